// add_rmsnorm.cu: hp_add_rmsnorm_* (fused residual add + RMSNorm), launched from core's plans.
// out[2][T][h]: out[0] = y = r·rsqrt(mean(r²) + eps)·weight, out[1] = r = x + residual rounded
// to the dtype (the norm is taken over the rounded r, as vLLM does).
#include "common.h"
#include "gen/add_rmsnorm.cu"
using namespace emu_test;
using namespace emu_add_rmsnorm;

EMU_KERNEL(hp_add_rmsnorm_f32);
EMU_KERNEL(hp_add_rmsnorm_f16);
EMU_KERNEL(hp_add_rmsnorm_bf16);

static const double EPS = 1e-6;  // crates/core/src/inputs.rs, ADD_RMSNORM_EPS (an f32)

// `scale` sizes x and residual: 1 gives rows whose mean square (≈ 2/3) dwarfs eps; 1e-3 gives
// rows whose mean square (≈ 7e-7) is of eps's order, so a wrong eps shows.
template <typename T> static void one(int tokens, int hidden, float scale, std::mt19937_64& rng) {
  const std::string shape = fmt("%s T=%d h=%d%s%s", dname<T>(), tokens, hidden,
                                hidden % (16 / (int)sizeof(T)) ? " (element path)" : "",
                                scale != 1.f ? fmt(" |x|<%g", scale).c_str() : "");
  const EmuPlan* p = emu_plan(fmt("add_rmsnorm tokens=%d,hidden=%d %s", tokens, hidden, dname<T>()));
  if (!p) return;
  Arena ar;
  const size_t n = (size_t)tokens * hidden;
  auto x = uniform<T>(n, rng, -scale, scale), res = uniform<T>(n, rng, -scale, scale);
  auto w = uniform<T>(hidden, rng, 0.5f, 1.5f);
  EmuRun run;
  emu_run(*p, {{"x", ar.upload(x)}, {"residual", ar.upload(res)}, {"weight", ar.upload(w)}}, run);
  // f64 reference: r rounded to T (through f32, exact for a sum of two T of like magnitude),
  // then the norm over the rounded r in f64.
  std::vector<double> ref(2 * n);
  for (int t = 0; t < tokens; ++t) {
    double* y = &ref[(size_t)t * hidden];
    double* r = &ref[n + (size_t)t * hidden];
    double sum_sq = 0;
    for (int e = 0; e < hidden; ++e) {
      const size_t i = (size_t)t * hidden + e;
      r[e] = f64(hp_from_float<T>((float)(f64(x[i]) + f64(res[i]))));
      sum_sq += r[e] * r[e];
    }
    const double inv = 1.0 / std::sqrt(sum_sq / hidden + (double)(float)EPS);
    for (int e = 0; e < hidden; ++e) y[e] = r[e] * inv * f64(w[e]);
  }
  check(std::string("add_rmsnorm ") + dname<T>(), shape, (const T*)run.outputs[p->check_index], ref);
}

template <typename T> static void all(std::mt19937_64& rng) {
  // Vector path (hidden a multiple of 16 bytes) with 1..4 accesses per thread kept in
  // registers, and beyond them (8192 f32, 16384) read back from out[1]; the element path
  // (hidden = 1, 7, 1030, 4100 for f16/bf16; 1030 is over 4·256 elements, so read back too);
  // one token and several.
  one<T>(1, 1, 1.f, rng);
  one<T>(5, 7, 1.f, rng);
  one<T>(3, 8, 1.f, rng);
  one<T>(2, 12, 1.f, rng);
  one<T>(4, 264, 1.f, rng);
  one<T>(3, 1030, 1.f, rng);
  one<T>(17, 4096, 1.f, rng);
  one<T>(2, 4100, 1.f, rng);
  one<T>(2, 8192, 1.f, rng);
  one<T>(1, 16384, 1.f, rng);
  one<T>(3, 64, 1e-3f, rng);
}

EMU_TEST(add_rmsnorm, seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
