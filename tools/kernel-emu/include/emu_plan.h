// emu_plan.h — kernels launched from core's launch plans, never from copied arguments.
//
// A test names a case the way `hotpath kernels plan --cases` reads it (`OP SHAPE DTYPE
// [knob=value ...]`) and asks emu_plan(case) for its plan. The driver runs in two passes
// (scripts/emulate-kernels.sh): `--list-cases` runs every test with emu_plan returning null,
// which records the case and makes the test return at once; hotpath plans the recorded cases
// (`kernels plan --cases FILE --format lines`); then the tests run with `--cases FILE --plans
// FILE`, emu_plan returns the plan core made, and emu_run executes it: the kernels, grids,
// dynamic shared memory and arguments are all core's.
#pragma once
#include "hp_emu.h"

#include <map>
#include <memory>

struct EmuPlanStep {
  bool zero = false;  // zero scratch `index` instead of a launch
  int index = 0;
  std::string function;
  emu_dim3 grid, block;
  size_t smem = 0;
  std::vector<std::string> args;  // the plan's argument records (in:0, i32:5, ...)
};
struct EmuPlan {
  std::string error;                // non-empty: core refused the case with this sentence
  std::vector<std::string> inputs;  // Input(i) is the tensor named inputs[i]
  std::vector<size_t> outputs, scratch;
  std::vector<EmuPlanStep> steps;
  int check_index = 0;
  std::string check_name;
};

inline bool emu_listing = false;             // pass 1: record cases only
inline std::vector<std::string> emu_cases;   // recorded in pass 1
inline std::map<std::string, EmuPlan> emu_plans;

// The plan of `c`; nullptr in the listing pass (the caller returns at once).
inline const EmuPlan* emu_plan(const std::string& c) {
  if (emu_listing) {
    emu_cases.push_back(c);
    return nullptr;
  }
  auto it = emu_plans.find(c);
  if (it == emu_plans.end()) emu_fail("no plan for case '%s' (was it listed by --list-cases?)", c.c_str());
  return &it->second;
}

// Reads the cases file and the plans hotpath made of it (same order).
void emu_load_plans(const char* cases_path, const char* plans_path);

// Buffers a test binds by tensor name (inputs) and the buffers a run made.
struct EmuRun {
  std::vector<void*> outputs;  // plan outputs, allocated by emu_run like the launcher does
  std::vector<void*> scratch;
  std::vector<std::unique_ptr<char[], void (*)(void*)>> owned;
};

// Executes plan `p` once: outputs are allocated with their byte sizes rounded up to 256 B and
// filled with `out_fill` (0xff: NaN, so an unwritten element fails; 0: as the CUDA launcher
// zeroes them), scratch buffers zeroed as the launcher does; every Input(i) is the buffer
// `inputs` maps its name to.
void emu_run(const EmuPlan& p, const std::map<std::string, void*>& inputs, EmuRun& run, int out_fill = 0xff);
