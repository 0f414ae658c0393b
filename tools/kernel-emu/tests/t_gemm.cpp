// gemm.cu: hp_gemm_{f16,bf16} (mma.sync m16n8k16, ldmatrix, 3-stage cp.async ring),
// launched from core's plans.
#include "common.h"
#include "gen/gemm.cu"
using namespace emu_test;
using namespace emu_gemm;

EMU_KERNEL(hp_gemm_f16);
EMU_KERNEL(hp_gemm_bf16);

template <typename T> static void one(int m, int n, int k, std::mt19937_64& rng) {
  const EmuPlan* p = emu_plan(fmt("gemm m=%d,n=%d,k=%d %s", m, n, k, dname<T>()));
  if (!p) return;
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
  check(std::string("gemm ") + dname<T>() + fmt(" cp.async=%s", emu_cp_mode ? "early" : "late"),
        fmt("%s m=%d n=%d k=%d", dname<T>(), m, n, k), (const T*)run.outputs[p->check_index], ref);
}

EMU_TEST(gemm, seed) {
  std::mt19937_64 rng(seed);
  for (int mode : {0, 1}) {  // cp.async copies performed at wait_group (late) or at issue (early)
    emu_cp_mode = mode;
    // tiny, exact tile, ragged in every dim, k tail (k % 32 != 0), several k tiles
    one<f16_t>(1, 1, 8, rng);
    one<bf16_t>(128, 128, 32, rng);
    one<f16_t>(130, 257, 40, rng);  // n odd → scalar stores
    one<bf16_t>(200, 136, 136, rng);
    if (mode == 0) {
      one<f16_t>(64, 256, 200, rng);
      one<bf16_t>(17, 130, 72, rng);
      one<bf16_t>(5, 1000, 16, rng);
    }
  }
  emu_cp_mode = 0;
}
