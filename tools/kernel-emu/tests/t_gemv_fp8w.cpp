// gemv_fp8w.cu: hp_gemv_fp8w_* (one lane group per fp8 weight row, split-K with atomicAdd
// into ws) and hp_gemv_fp8w_finish_*, launched from core's plans.
#include "common.h"
#include "fp8_ref.h"
#include "gen/gemv_fp8w.cu"
using namespace emu_test;
using namespace emu_gemv_fp8w;

EMU_KERNEL(hp_gemv_fp8w_f16);
EMU_KERNEL(hp_gemv_fp8w_bf16);
EMU_KERNEL(hp_gemv_fp8w_finish_f16);
EMU_KERNEL(hp_gemv_fp8w_finish_bf16);

// Codes over the whole range (every finite code of fp8_ref.h's encoding), or `tiny`: only the
// codes of the two lowest exponents (subnormals and the smallest normals, OCP ±2⁻⁹..±2⁻⁵),
// where a wrong subnormal decode is not lost under the large codes.
static std::vector<unsigned char> codes(size_t n, bool tiny, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> u(0, 31);
  std::vector<unsigned char> v(n);
  for (auto& c : v) {
    if (!tiny) {
      c = random_code(rng);
      continue;
    }
    const int x = u(rng);
    c = (unsigned char)((x & 15) | (x & 16 ? 0x80 : 0));
#if defined(HP_FP8_FNUZ)
    if (c == 0x80) c = 0x00;  // the NaN code
#endif
  }
  return v;
}

// `want` is the split count the case is there for (core's launch::gemv_splits through `sms`).
template <typename T>
static void one(int m, int n, int k, unsigned sms, unsigned want, std::mt19937_64& rng, bool tiny = false) {
  const EmuPlan* p = emu_plan(fmt("gemv_fp8w m=%d,n=%d,k=%d %s units=%u", m, n, k, dname<T>(), sms));
  if (!p) return;
  const std::string grp = std::string("gemv_fp8w") + FP8_TAG + " " + dname<T>();
  unsigned splits = 0;
  for (const EmuPlanStep& s : p->steps)
    if (s.function.rfind("hp_gemv_fp8w_", 0) == 0 && s.function.find("finish") == std::string::npos) splits = s.grid.y;
  const std::string shape =
      fmt("%s m=%d n=%d k=%d sms=%u splits=%u%s", dname<T>(), m, n, k, sms, splits, tiny ? " tiny codes" : "");
  if (splits != want)
    return record(grp, shape, false, INFINITY, fmt("the case is for %u splits: pick its sms again", want));
  Arena ar;
  auto a = uniform<T>((size_t)m * k, rng);
  auto w = codes((size_t)n * k, tiny, rng);
  std::vector<float> scale(n);
  std::uniform_real_distribution<float> us(1.f / (float)FP8_MAX, 4.f / (float)FP8_MAX);
  for (auto& s : scale) s = us(rng);
  EmuRun run;
  emu_run(*p, {{"a", ar.upload(a)}, {"w", ar.upload(w)}, {"w_scale", ar.upload(scale)}}, run);
  std::vector<double> ref((size_t)m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int kk = 0; kk < k; ++kk) s += f64(a[(size_t)i * k + kk]) * e4m3(w[(size_t)j * k + kk]);
      ref[(size_t)i * n + j] = s * scale[j];
    }
  check(grp, shape, (const T*)run.outputs[p->check_index], ref);
}

template <typename T> static void all(std::mt19937_64& rng) {
  for (int m : {1, 5, 16}) {
    one<T>(m, 1, 16, H100_SMS, 1, rng);     // one row, one vector
    one<T>(m, 13, 48, H100_SMS, 1, rng);    // n % 8 != 0: a partly idle block; 3 vectors, 32 lanes
    one<T>(m, 13, 1552, 2, 3, rng);         // 3 splits, kc = 528 → 528, 528, 496
    one<T>(m, 21, 4112, H100_SMS, 8, rng);  // kc = 528; the last split shorter
  }
  one<T>(3, 301, 1040, H100_SMS, 2, rng);   // 38 row blocks: 2 splits of 528, 512
  one<T>(2, 9, 4096, 1, 2, rng);            // 1 SM: 2 splits of 2048, four vectors per lane (two in flight)
  one<T>(2, 9, 512, H100_SMS, 1, rng, true);  // subnormal and smallest normal codes only
  // Every M instantiation, with 1 and 2 splits.
  for (int m = 1; m <= 16; ++m) one<T>(m, 11, m % 2 ? 1040 : 64, m % 2 ? 1 : H100_SMS, m % 2 ? 2 : 1, rng);
}

#if defined(HP_FP8_FNUZ)
// The fnuz build (the encoding of gfx94x): one and several vectors, a split, tiny codes.
EMU_TEST(gemv_fp8w_fnuz, seed) {
  std::mt19937_64 rng(seed);
  one<bf16_t>(1, 13, 48, H100_SMS, 1, rng);
  one<f16_t>(5, 13, 1552, 2, 3, rng);
  one<bf16_t>(2, 9, 512, H100_SMS, 1, rng, true);
}
#else
EMU_TEST(gemv_fp8w, seed) {
  std::mt19937_64 rng(seed);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
#endif
