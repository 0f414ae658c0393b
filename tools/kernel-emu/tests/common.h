// Shared test helpers: device-like buffers, inputs, f64 references, nmse checks, grouping.
// Nothing here describes a launch: grids, shared memory and arguments come from core's plans
// (emu_plan.h).
#pragma once
#include "hp_emu.h"
#include "emu_plan.h"
#include "hotpath_common.cuh"

#include <map>
#include <memory>
#include <string>

namespace emu_test {

// ---- sizes the tests' own inputs and references need (launches are all core's plans) ----
inline unsigned long long pages_for(unsigned long long tokens, unsigned long long ps) { return (tokens + ps - 1) / ps; }
constexpr unsigned H100_SMS = 132;  // an H100/H200 SXM, `hotpath kernels plan`'s default device

// ---- buffers: like the launcher, byte size rounded up to 256 B and 256-B aligned; the
// sanitizer (when built with it) catches any access past the rounded size ----
struct Arena {
  std::vector<void*> ptrs;
  ~Arena() { for (void* p : ptrs) free(p); }
  template <typename T> T* alloc(size_t n, int fill) {
    const size_t bytes = std::max<size_t>((n * sizeof(T) + 255) / 256 * 256, 256);
    void* p = aligned_alloc(256, bytes);
    memset(p, fill, bytes);
    ptrs.push_back(p);
    return (T*)p;
  }
  template <typename T> T* upload(const std::vector<T>& v) {
    T* p = alloc<T>(v.size(), 0xa5);  // padding holds garbage the kernels must ignore
    memcpy((void*)p, v.data(), v.size() * sizeof(T));
    return p;
  }
};

template <typename T> std::vector<T> uniform(size_t n, std::mt19937_64& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = hp_from_float<T>(u(rng));
  return v;
}
template <typename T> double f64(T x) { return (double)hp_to_float(x); }
inline std::vector<int> permutation(int n, std::mt19937_64& rng) {
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) v[i] = i;
  for (int i = n - 1; i > 0; --i) std::swap(v[i], v[std::uniform_int_distribution<int>(0, i)(rng)]);
  return v;
}

template <typename T> constexpr const char* dname() {
  if constexpr (std::is_same_v<T, float>) return "f32";
  else if constexpr (std::is_same_v<T, f16_t>) return "f16";
  else return "bf16";
}
// nmse tolerances of crates/core/src/dtype.rs
template <typename T> constexpr double tol() {
  if constexpr (std::is_same_v<T, float>) return 1e-8;
  else if constexpr (std::is_same_v<T, f16_t>) return 1e-5;
  else return 2e-4;
}

// ---- results, one summary line per group ----
struct Group {
  std::string name;
  int shapes = 0, fails = 0;
  double worst = 0;
  std::vector<std::string> failed;
};
inline std::vector<Group> groups;
inline bool verbose = false;
inline bool fail_fast = false;  // stop at the first failed shape (mutate.py needs one, not all)
inline Group& group(const std::string& name) {
  for (auto& g : groups)
    if (g.name == name) return g;
  Group g;
  g.name = name;
  groups.push_back(g);
  return groups.back();
}
inline void record(const std::string& grp, const std::string& shape, bool ok, double nmse, const std::string& extra = "") {
  Group& g = group(grp);
  g.shapes++;
  g.worst = std::max(g.worst, std::isfinite(nmse) ? nmse : INFINITY);
  if (!ok) {
    g.fails++;
    g.failed.push_back(shape + " nmse=" + std::to_string(nmse) + (extra.empty() ? "" : " " + extra));
  }
  if (verbose) printf("  %-4s %-22s %-64s nmse=%.3e %s\n", ok ? "ok" : "FAIL", grp.c_str(), shape.c_str(), nmse, extra.c_str());
  if (!ok && fail_fast) {
    printf("FAIL  %-40s failed: %s\nFAILED: stopped at the first failed shape (--fail-fast)\n", grp.c_str(),
           g.failed.back().c_str());
    fflush(stdout);
    std::exit(1);
  }
}
// nmse = Σ(out−ref)²/Σref²; any non-finite output fails.
template <typename T> bool check(const std::string& grp, const std::string& shape, const T* out, const std::vector<double>& ref,
                                 double tolerance = tol<T>()) {
  double num = 0, den = 0;
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double o = f64(out[i]);
    if (!std::isfinite(o)) { ++bad; continue; }
    num += (o - ref[i]) * (o - ref[i]);
    den += ref[i] * ref[i];
  }
  const double nmse = den > 0 ? num / den : num;
  const bool ok = bad == 0 && nmse <= tolerance;
  record(grp, shape, ok, bad ? INFINITY : nmse, bad ? std::to_string(bad) + " non-finite" : "");
  return ok;
}
inline std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
inline std::string fmt(const char* f, ...) {
  char b[256];
  va_list ap;
  va_start(ap, f);
  vsnprintf(b, sizeof b, f, ap);
  va_end(ap);
  return b;
}

// ---- test groups: one per kernel file (t_<group>.cpp tests kernels/<group>.cu), each
// registering itself with EMU_TEST, so a new kernel file needs no edit of main.cpp ----
struct TestEntry {
  std::string name;
  void (*fn)(uint64_t seed);
};
inline std::vector<TestEntry>& test_entries() {
  static std::vector<TestEntry> e;
  return e;
}
inline bool register_test(const char* name, void (*fn)(uint64_t)) {
  test_entries().push_back({name, fn});
  return true;
}

}  // namespace emu_test

// Defines and registers the entry point of test group `group`, whose seed parameter is
// called `seed_name`:  EMU_TEST(kv, seed) { std::mt19937_64 rng(seed); ... }
#define EMU_TEST(group, seed_name)                                                                  \
  static void emu_test_##group(uint64_t seed_name);                                                \
  [[maybe_unused]] static const bool emu_test_reg_##group = emu_test::register_test(#group, &emu_test_##group); \
  static void emu_test_##group(uint64_t seed_name)
