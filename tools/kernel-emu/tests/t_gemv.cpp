// gemv.cu: hp_gemv_* (one warp per weight row, split-K with atomicAdd into ws) and
// hp_gemv_finish_*, launched from core's plans.
#include "common.h"
#include "gen/gemv.cu"
using namespace emu_test;
using namespace emu_gemv;

EMU_KERNEL(hp_gemv_f32);
EMU_KERNEL(hp_gemv_f16);
EMU_KERNEL(hp_gemv_bf16);
EMU_KERNEL(hp_gemv_finish_f32);
EMU_KERNEL(hp_gemv_finish_f16);
EMU_KERNEL(hp_gemv_finish_bf16);

// The split count is core's (launch.rs::gemv_splits): clamp(⌈4·SMs / ⌈n/8⌉⌉, 1,
// min(max(⌊k/512⌋, 1), 64)), so a case reaches a split count through the SM count (`sms`).
// `want` is the split count the case is there for: a plan with another one fails the case,
// so a change of the heuristic cannot silently drop the coverage.
template <typename T> static void one(int m, int n, int k, unsigned sms, unsigned want, std::mt19937_64& rng) {
  const EmuPlan* p = emu_plan(fmt("gemv m=%d,n=%d,k=%d %s units=%u", m, n, k, dname<T>(), sms));
  if (!p) return;
  const std::string grp = std::string("gemv ") + dname<T>();
  unsigned splits = 0;  // gridDim.y of the gemv launch
  for (const EmuPlanStep& s : p->steps)
    if (s.function.rfind("hp_gemv_", 0) == 0 && s.function.find("finish") == std::string::npos) splits = s.grid.y;
  const std::string shape = fmt("%s m=%d n=%d k=%d sms=%u splits=%u", dname<T>(), m, n, k, sms, splits);
  if (splits != want)
    return record(grp, shape, false, INFINITY, fmt("the case is for %u splits: pick its sms again", want));
  Arena ar;
  auto a = uniform<T>((size_t)m * k, rng), w = uniform<T>((size_t)n * k, rng);
  EmuRun run;
  emu_run(*p, {{"a", ar.upload(a)}, {"w", ar.upload(w)}}, run);
  std::vector<double> ref((size_t)m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int kk = 0; kk < k; ++kk) s += f64(a[(size_t)i * k + kk]) * f64(w[(size_t)j * k + kk]);
      ref[(size_t)i * n + j] = s;
    }
  check(grp, shape, (const T*)run.outputs[p->check_index], ref);
}

// Split counts the emulator tests once forced by hand (3 with kc = 16 at k = 40; 8 with 3
// empty splits at k = 40; 1..4 at k = 72) are not all plans core makes: k < 1024 is never
// split, and no plan has an empty split ((s−1)·kc ≥ k needs k ≤ 8s(s−1), while s splits need
// k ≥ 512s, so s ≥ 65 > 64). The nearest plans core does make stand in for them.
template <typename T> static void all(std::mt19937_64& rng) {
  for (int m : {1, 3, 8, 16}) {
    one<T>(m, 1, 8, H100_SMS, 1, rng);     // smallest: one row, one vector (f16) / two (f32)
    one<T>(m, 13, 40, H100_SMS, 1, rng);   // n % 8 != 0: a partly idle block; k % 256 != 0
    one<T>(m, 13, 1544, 2, 3, rng);        // 2 SMs: 3 splits, kc = 520 → 520, 520, 504
    one<T>(m, 5, 4096, 2, 8, rng);         // 2 SMs: 8 equal splits of 512
    one<T>(m, 21, 4104, H100_SMS, 8, rng); // kc = 520; the last split shorter
  }
  for (int m : {1, 3}) {
    one<T>(m, 77, 264, H100_SMS, 1, rng);    // k < 1024: never split
    one<T>(m, 250, 1544, H100_SMS, 3, rng);
    one<T>(m, 1001, 2056, H100_SMS, 4, rng); // 126 row blocks
  }
  one<T>(16, 301, 776, H100_SMS, 1, rng);  // m = 16 with 1 split over many rows
  // Every M instantiation, with 1..4 splits: n = 11 is 2 row blocks, so 2·SMs are wanted;
  // k = 72 allows 1 split, 1544 allows 3, 2056 allows 4.
  for (int m = 1; m <= 16; ++m) {
    switch (m % 4) {
      case 0: one<T>(m, 11, 72, H100_SMS, 1, rng); break;
      case 1: one<T>(m, 11, 2056, 1, 2, rng); break;  // 1 SM: 2 wanted
      case 2: one<T>(m, 11, 1544, 2, 3, rng); break;  // 2 SMs: 4 wanted, 3 allowed
      case 3: one<T>(m, 11, 2056, 2, 4, rng); break;  // 2 SMs: 4 wanted and allowed
    }
  }
}

EMU_TEST(gemv, seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
