// plans.cpp — reading `hotpath kernels plan --format lines` records and executing them
// (include/emu_plan.h; the record format is crates/core/src/launch_plan/text.rs's).
#include "emu_plan.h"

#include <fstream>
#include <sstream>

namespace {

std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string x; in >> x;) w.push_back(x);
  return w;
}

unsigned long long num(const std::string& s, const char* what) {
  char* end = nullptr;
  const unsigned long long v = strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end) emu_fail("plans file: %s '%s' is not a number", what, s.c_str());
  return v;
}

// One argument record resolved against this run's buffers.
EmuArg resolve(const std::string& a, const EmuPlan& p, const std::map<std::string, void*>& inputs, const EmuRun& run) {
  const size_t colon = a.find(':');
  if (colon == std::string::npos) emu_fail("plans file: argument '%s' has no kind", a.c_str());
  const std::string k = a.substr(0, colon), v = a.substr(colon + 1);
  EmuArg r;
  auto index = [&](size_t n, const char* what) {
    const size_t i = num(v, what);
    if (i >= n) emu_fail("plan argument %s: %s %zu of %zu", a.c_str(), what, i, n);
    return i;
  };
  if (k == "in") {
    const std::string& name = p.inputs[index(p.inputs.size(), "input")];
    auto it = inputs.find(name);
    if (it == inputs.end()) emu_fail("the plan reads input '%s', which the test did not bind", name.c_str());
    r.p = it->second;
  } else if (k == "out") {
    r.p = run.outputs[index(run.outputs.size(), "output")];
  } else if (k == "scratch") {
    r.p = run.scratch[index(run.scratch.size(), "scratch")];
  } else if (k == "i32") {
    r.kind = EmuArg::I32;
    r.i = strtoll(v.c_str(), nullptr, 10);
  } else if (k == "i64") {
    r.kind = EmuArg::I64;
    r.i = strtoll(v.c_str(), nullptr, 10);
  } else if (k == "f32") {
    r.kind = EmuArg::F32;
    r.f = __uint_as_float((unsigned)strtoul(v.c_str(), nullptr, 16));
  } else if (k == "u4") {
    r.kind = EmuArg::U4;
    unsigned x[4];
    if (sscanf(v.c_str(), "%x,%x,%x,%x", &x[0], &x[1], &x[2], &x[3]) != 4) emu_fail("plan argument %s", a.c_str());
    r.u = uint4{x[0], x[1], x[2], x[3]};
  } else {
    emu_fail("plans file: unknown argument kind '%s'", k.c_str());
  }
  return r;
}

void* device_alloc(size_t bytes, int fill, EmuRun& run) {
  const size_t rounded = std::max<size_t>((bytes + 255) / 256 * 256, 256);
  void* p = aligned_alloc(256, rounded);
  memset(p, fill, rounded);
  run.owned.emplace_back((char*)p, free);
  return p;
}

}  // namespace

void emu_load_plans(const char* cases_path, const char* plans_path) {
  std::ifstream cases(cases_path), plans(plans_path);
  if (!cases) emu_fail("cannot read the cases file %s", cases_path);
  if (!plans) emu_fail("cannot read the plans file %s", plans_path);
  std::vector<std::string> keys;
  for (std::string line; std::getline(cases, line);)
    if (!line.empty() && line[0] != '#') keys.push_back(line);
  EmuPlan cur;
  size_t n = 0;
  for (std::string line; std::getline(plans, line);) {
    const auto w = words(line);
    if (w.empty()) continue;
    if (w[0] == "plan") {
      continue;
    } else if (w[0] == "error") {
      cur.error = line.substr(6);
    } else if (w[0] == "input" && w.size() == 3) {
      cur.inputs.push_back(w[2]);
    } else if (w[0] == "output" && w.size() == 3) {
      cur.outputs.push_back(num(w[2], "output size"));
    } else if (w[0] == "scratch" && w.size() == 3) {
      cur.scratch.push_back(num(w[2], "scratch size"));
    } else if (w[0] == "check" && w.size() == 5) {
      cur.check_index = (int)num(w[1], "check index");
      cur.check_name = w[2];
    } else if (w[0] == "zero" && w.size() == 2) {
      EmuPlanStep s;
      s.zero = true;
      s.index = (int)num(w[1], "scratch index");
      cur.steps.push_back(s);
    } else if (w[0] == "kernel" && w.size() >= 9) {
      EmuPlanStep s;
      s.function = w[1];
      s.grid = {(unsigned)num(w[2], "grid"), (unsigned)num(w[3], "grid"), (unsigned)num(w[4], "grid")};
      s.block = {(unsigned)num(w[5], "block"), (unsigned)num(w[6], "block"), (unsigned)num(w[7], "block")};
      s.smem = num(w[8], "shared memory");
      s.args.assign(w.begin() + 9, w.end());
      cur.steps.push_back(s);
    } else if (w[0] == "end") {
      if (n >= keys.size()) emu_fail("the plans file holds more plans than %s has cases", cases_path);
      emu_plans[keys[n++]] = cur;
      cur = EmuPlan();
    } else {
      emu_fail("plans file: cannot read the line '%s'", line.c_str());
    }
  }
  if (n != keys.size()) emu_fail("%s has %zu cases but the plans file %zu plans", cases_path, keys.size(), n);
}

void emu_run(const EmuPlan& p, const std::map<std::string, void*>& inputs, EmuRun& run, int out_fill) {
  if (!p.error.empty()) emu_fail("running a plan core refused: %s", p.error.c_str());
  run.outputs.clear();
  run.scratch.clear();
  for (size_t b : p.outputs) run.outputs.push_back(device_alloc(b, out_fill, run));
  for (size_t b : p.scratch) run.scratch.push_back(device_alloc(b, 0, run));
  for (const EmuPlanStep& s : p.steps) {
    if (s.zero) {
      if (s.index < 0 || (size_t)s.index >= p.scratch.size()) emu_fail("the plan zeroes scratch %d", s.index);
      memset(run.scratch[s.index], 0, p.scratch[s.index]);
      continue;
    }
    auto k = emu_kernels().find(s.function);
    if (k == emu_kernels().end()) emu_fail("the plan launches %s, which no test registered", s.function.c_str());
    std::vector<EmuArg> args;
    for (const std::string& a : s.args) args.push_back(resolve(a, p, inputs, run));
    k->second(s.grid, s.block, s.smem, args);
  }
}
