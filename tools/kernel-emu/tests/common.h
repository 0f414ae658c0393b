// Shared test helpers: device-like buffers, inputs, f64 references, nmse checks, grouping,
// and the launch geometry of crates/core/src/launch.rs (mirrored; keep in sync).
#pragma once
#include "hp_emu.h"
#include "emu_plan.h"
#include "hotpath_common.cuh"

#include <map>
#include <memory>
#include <string>

namespace emu_test {

// ---- launch geometry (crates/core/src/launch.rs) ----
inline unsigned long long div_ceil(unsigned long long a, unsigned long long b) { return (a + b - 1) / b; }
inline unsigned long long clamp1(unsigned long long v) { return v < 1 ? 1 : v; }
constexpr unsigned H100_SMS = 132;
inline emu_dim3 grid1(unsigned long long x, unsigned long long y = 1, unsigned long long z = 1) {
  return emu_dim3{(unsigned)clamp1(x), (unsigned)clamp1(y), (unsigned)clamp1(z)};
}
inline emu_dim3 threads(unsigned t) { return emu_dim3{t, 1, 1}; }
// hp_copy / hp_write / hp_triad: min(units/(256·4)+1, 8·SMs) × 256
inline emu_dim3 geo_stream(unsigned long long units, unsigned sms) { return grid1(std::min(units / 1024 + 1, 8ull * sms)); }
// hp_read_*: min(⌈n/(256·16/size)⌉, 8·SMs) × 256
inline emu_dim3 geo_read(unsigned long long n, unsigned long long elem, unsigned sms) {
  return grid1(std::min(div_ceil(n, 256 * 16 / elem), 8ull * sms));
}
inline unsigned long long vectors16(unsigned long long bytes) { return div_ceil(bytes, 16); }
inline unsigned gemv_splits(unsigned long long n, unsigned long long k, unsigned sms) {
  const unsigned long long row_blocks = div_ceil(n, 8);
  const unsigned long long wanted = div_ceil(4ull * sms, std::max(row_blocks, 1ull));
  const unsigned long long most = std::min(std::max(k / 512, 1ull), 64ull);
  return (unsigned)std::clamp(wanted, 1ull, most);
}
inline emu_dim3 geo_gemv(unsigned long long n, unsigned splits) { return grid1(div_ceil(n, 8), splits); }
inline emu_dim3 geo_elementwise(unsigned long long count) { return grid1(div_ceil(count, 256)); }
inline emu_dim3 geo_gemm(unsigned long long m, unsigned long long n) { return grid1(div_ceil(n, 128), div_ceil(m, 128)); }
inline emu_dim3 geo_attn_prefill(unsigned long long b, unsigned long long s, unsigned long long hq) {
  return grid1(div_ceil(s, 64), hq, b);
}
inline unsigned decode_splits(unsigned long long batch, unsigned long long hkv, unsigned long long context, unsigned sms) {
  const unsigned long long groups = std::max(batch * hkv, 1ull);
  const unsigned long long wanted = div_ceil(2ull * sms, groups);
  const unsigned long long most = std::clamp(div_ceil(context, 256), 1ull, 64ull);
  return (unsigned)std::clamp(wanted, 1ull, most);
}
inline unsigned long long decode_chunk(unsigned long long context, unsigned splits, unsigned long long ps) {
  return div_ceil(div_ceil(context, splits), ps) * ps;
}
inline emu_dim3 geo_attn_decode(unsigned long long b, unsigned long long hkv, unsigned splits) { return grid1(splits, hkv, b); }
inline emu_dim3 geo_attn_decode_combine(unsigned long long b, unsigned long long hq) { return grid1(hq, b); }
inline emu_dim3 geo_kv(unsigned long long tokens) { return grid1(tokens); }
inline emu_dim3 geo_peak(unsigned sms) { return grid1(4ull * sms); }
inline unsigned long long pages_for(unsigned long long tokens, unsigned long long ps) { return div_ceil(tokens, ps); }

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

}  // namespace emu_test

// Test entry points, one per kernel file.
void test_stream(uint64_t seed);
void test_kv(uint64_t seed);
void test_gemv(uint64_t seed);
void test_attn_decode(uint64_t seed);
void test_peak(uint64_t seed);
void test_gemm(uint64_t seed);
void test_attn_prefill(uint64_t seed);
