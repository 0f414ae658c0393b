// silu_mul.cu: hp_silu_mul_* (vLLM's silu_and_mul), launched from core's plans.
// x[T][2I] holds each row's gate, then its up; out[T][I] = silu(gate)·up, silu(g) = g/(1 + e^−g).
#include "common.h"
#include "gen/silu_mul.cu"
using namespace emu_test;
using namespace emu_silu_mul;

EMU_KERNEL(hp_silu_mul_f32);
EMU_KERNEL(hp_silu_mul_f16);
EMU_KERNEL(hp_silu_mul_bf16);

// Inputs uniform in [−range, range): 8 crosses silu's bend; 80 reaches e^80, where the
// gate's sign decides between silu ≈ 0 and silu ≈ g.
template <typename T> static void one(int tokens, int inter, float range, std::mt19937_64& rng) {
  const std::string shape = fmt("%s T=%d I=%d%s%s", dname<T>(), tokens, inter,
                                inter % (16 / (int)sizeof(T)) ? " (element path)" : "",
                                range != 8.f ? fmt(" |x|<%g", range).c_str() : "");
  const EmuPlan* p = emu_plan(fmt("silu_mul tokens=%d,intermediate=%d %s", tokens, inter, dname<T>()));
  if (!p) return;
  Arena ar;
  const size_t row = 2 * (size_t)inter;
  auto x = uniform<T>((size_t)tokens * row, rng, -range, range);
  EmuRun run;
  emu_run(*p, {{"x", ar.upload(x)}}, run);
  // f64 reference on the stored gate and up.
  std::vector<double> ref((size_t)tokens * inter);
  for (int t = 0; t < tokens; ++t) {
    for (int i = 0; i < inter; ++i) {
      const double g = f64(x[t * row + i]), u = f64(x[t * row + inter + i]);
      ref[(size_t)t * inter + i] = g / (1.0 + std::exp(-g)) * u;
    }
  }
  check(std::string("silu_mul ") + dname<T>(), shape, (const T*)run.outputs[p->check_index], ref);
}

template <typename T> static void all(std::mt19937_64& rng) {
  // The vector path (I a multiple of 16 bytes of T) and the element path (I = 1, 7, 12 for
  // f16/bf16, 2049, 4100 for f16/bf16); one block a row, several (2049 elements = 9 blocks;
  // 14336 bf16 = 7 blocks of vectors) and partial last blocks; one token and many.
  one<T>(1, 1, 8.f, rng);
  one<T>(3, 7, 8.f, rng);
  one<T>(2, 8, 8.f, rng);
  one<T>(2, 12, 8.f, rng);
  one<T>(5, 264, 8.f, rng);
  one<T>(17, 1000, 8.f, rng);
  one<T>(4, 2048, 8.f, rng);
  one<T>(1, 2049, 8.f, rng);
  one<T>(3, 4100, 8.f, rng);
  one<T>(2, 14336, 8.f, rng);
  one<T>(3, 64, 80.f, rng);
}

EMU_TEST(silu_mul, seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
