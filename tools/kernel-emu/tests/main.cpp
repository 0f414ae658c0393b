// kernel-emu driver: runs the emulated kernels against f64 references. Every launch (kernel,
// grid, block, dynamic shared memory, arguments) is taken from core's launch plans
// (include/emu_plan.h): the tests only name cases, bind inputs by tensor name and check outputs.
// usage: kernel-emu --list-groups                 the test groups, one per line
//        kernel-emu --list-cases [GROUP...]      pass 1: the cases the tests need, one per line
//        kernel-emu --cases FILE --plans FILE [-v] [--fail-fast] [--seed N] [GROUP...]
//                                                pass 2: run the tests on the plans
//                                                `hotpath kernels plan --cases FILE --format lines` made
//   GROUP: a test group, one per kernel file (t_<group>.cpp registers it with EMU_TEST); default: all
//   -v           one line per shape
//   --fail-fast  exit at the first failed shape (tools/kernel-emu/mutate.py)
// scripts/emulate-kernels.sh runs both passes.
#include <chrono>
#include "common.h"

int main(int argc, char** argv) {
  using namespace emu_test;
  // Registration order depends on the link order: run the groups sorted by name.
  std::vector<TestEntry> all = test_entries();
  std::sort(all.begin(), all.end(), [](const TestEntry& a, const TestEntry& b) { return a.name < b.name; });
  std::vector<std::string> want;
  uint64_t seed = 20261124;
  const char *cases = nullptr, *plans = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-v") verbose = true;
    else if (a == "--fail-fast") fail_fast = true;
    else if (a == "--seed" && i + 1 < argc) seed = strtoull(argv[++i], nullptr, 0);
    else if (a == "--list-cases") emu_listing = true;
    else if (a == "--list-groups") {
      for (const TestEntry& e : all) printf("%s\n", e.name.c_str());
      return 0;
    }
    else if (a == "--cases" && i + 1 < argc) cases = argv[++i];
    else if (a == "--plans" && i + 1 < argc) plans = argv[++i];
    else want.push_back(a);
  }
  for (const std::string& w : want) {
    if (std::none_of(all.begin(), all.end(), [&](const TestEntry& e) { return e.name == w; })) {
      std::string names;
      for (const TestEntry& e : all) names += " " + e.name;
      fprintf(stderr, "kernel-emu: unknown test group '%s'; accepted:%s\n", w.c_str(), names.c_str());
      return 2;
    }
  }
  if (emu_listing) {
    for (const TestEntry& e : all)
      if (want.empty() || std::find(want.begin(), want.end(), e.name) != want.end()) e.fn(seed ^ std::hash<std::string>{}(e.name));
    for (const auto& c : emu_cases) printf("%s\n", c.c_str());
    return 0;
  }
  if (!cases || !plans) {
    fprintf(stderr, "kernel-emu: give --list-cases, or --cases FILE --plans FILE (scripts/emulate-kernels.sh does both)\n");
    return 2;
  }
  emu_load_plans(cases, plans);
  emu_seed(seed);
  int fails = 0;
  for (const TestEntry& e : all) {
    if (!want.empty() && std::find(want.begin(), want.end(), e.name) == want.end()) continue;
    const size_t first = groups.size();
    const auto t0 = std::chrono::steady_clock::now();
    e.fn(seed ^ std::hash<std::string>{}(e.name));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t i = first; i < groups.size(); ++i) {
      const Group& g = groups[i];
      printf("%s  %-40s %3d shape(s)  max nmse %.2e\n", g.fails ? "FAIL" : "PASS", g.name.c_str(), g.shapes, g.worst);
      for (const auto& f : g.failed) printf("        failed: %s\n", f.c_str());
      fails += g.fails;
    }
    printf("      (%s: %.1f s)\n", e.name.c_str(), s);
    fflush(stdout);
  }
  printf("%s: %d failed shape(s); %ld warp collectives, %ld ldmatrix phases (%ld bank-conflicted)\n",
         fails ? "FAILED" : "PASSED", fails, (long)emu_collectives, (long)emu_ldsm_phases, (long)emu_bank_conflicts);
  return fails ? 1 : 0;
}
