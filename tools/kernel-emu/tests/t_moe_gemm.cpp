// moe_gemm.cu: hp_moe_gemm_align (pairs grouped by expert), hp_moe_gemm_gemv_* (decode's weight stream)
// or hp_moe_gemm_tile_* (prefill's tiles), and hp_moe_gemm_combine_*, launched from core's plans. The
// routing is the test's own (the kernels take any): uniform, skewed onto one expert, with an
// idle expert, so offsets, row gathers, row groups and row tiles are all exercised.
#include "common.h"
#include "gen/moe_gemm.cu"
using namespace emu_test;
using namespace emu_moe_gemm;

EMU_KERNEL(hp_moe_gemm_align);
EMU_KERNEL(hp_moe_gemm_gemv_f32);
EMU_KERNEL(hp_moe_gemm_gemv_f16);
EMU_KERNEL(hp_moe_gemm_gemv_bf16);
EMU_KERNEL(hp_moe_gemm_tile_f32);
EMU_KERNEL(hp_moe_gemm_tile_f16);
EMU_KERNEL(hp_moe_gemm_tile_bf16);
EMU_KERNEL(hp_moe_gemm_combine_f32);
EMU_KERNEL(hp_moe_gemm_combine_f16);
EMU_KERNEL(hp_moe_gemm_combine_bf16);

enum class Routing { Uniform, Skewed };

// top_k distinct experts per token. Skewed: slot 0 always expert 1 (its group outgrows one row
// group of the gemv and one 128-row tile), the others uniform over 0..E−2, so expert E−1 is idle.
static std::vector<int> routing(int tokens, int experts, int top_k, Routing r, std::mt19937_64& rng) {
  std::vector<int> ids;
  const int pool = r == Routing::Skewed ? experts - 1 : experts;
  for (int t = 0; t < tokens; ++t) {
    auto perm = permutation(pool, rng);
    if (r == Routing::Skewed) {
      for (size_t i = 0; i < perm.size(); ++i)
        if (perm[i] == 1) std::swap(perm[i], perm[0]);
    }
    ids.insert(ids.end(), perm.begin(), perm.begin() + top_k);
  }
  return ids;
}

// `gemm` names the kernel the plan must pick (hp_moe_gemm_gemv or hp_moe_gemm_tile), so a change of
// core's choice cannot silently drop a path.
template <typename T>
static void one(int tokens, int experts, int top_k, int n, int k, Routing r, const char* gemm, std::mt19937_64& rng) {
  const EmuPlan* p =
      emu_plan(fmt("moe_gemm tokens=%d,experts=%d,top_k=%d,n=%d,k=%d %s", tokens, experts, top_k, n, k, dname<T>()));
  if (!p) return;
  const std::string grp = std::string("moe_gemm ") + dname<T>();
  std::string picked;
  for (const EmuPlanStep& s : p->steps)
    if (s.function.rfind("hp_moe_gemm_gemv", 0) == 0 || s.function.rfind("hp_moe_gemm_tile", 0) == 0)
      picked = s.function.substr(0, s.function.rfind('_'));
  const std::string shape = fmt("%s T=%d E=%d top_k=%d n=%d k=%d %s %s", dname<T>(), tokens, experts, top_k, n, k,
                                r == Routing::Skewed ? "skewed+idle" : "uniform", picked.c_str());
  if (picked != gemm) return record(grp, shape, false, INFINITY, fmt("the case is for %s", gemm));
  Arena ar;
  auto x = uniform<T>((size_t)tokens * k, rng);
  auto w = uniform<T>((size_t)experts * n * k, rng);
  auto ids = routing(tokens, experts, top_k, r, rng);
  std::vector<float> gates((size_t)tokens * top_k);
  std::uniform_real_distribution<float> u(0.05f, 1.f);
  for (int t = 0; t < tokens; ++t) {
    float sum = 0;
    for (int j = 0; j < top_k; ++j) sum += gates[(size_t)t * top_k + j] = u(rng);
    for (int j = 0; j < top_k; ++j) gates[(size_t)t * top_k + j] /= sum;
  }
  EmuRun run;
  emu_run(*p, {{"x", ar.upload(x)}, {"w", ar.upload(w)}, {"topk_ids", ar.upload(ids)}, {"topk_weights", ar.upload(gates)}},
          run);
  std::vector<double> ref((size_t)tokens * n, 0.0);
  for (int t = 0; t < tokens; ++t)
    for (int j = 0; j < top_k; ++j) {
      const int e = ids[(size_t)t * top_k + j];
      const double g = gates[(size_t)t * top_k + j];
      for (int c = 0; c < n; ++c) {
        double s = 0;
        for (int kk = 0; kk < k; ++kk) s += f64(x[(size_t)t * k + kk]) * f64(w[((size_t)e * n + c) * k + kk]);
        ref[(size_t)t * n + c] += g * s;
      }
    }
  check(grp, shape, (const T*)run.outputs[p->check_index], ref);
}

template <typename T> static void all(std::mt19937_64& rng) {
  const auto U = Routing::Uniform, S = Routing::Skewed;
  // Weight stream: expert 1 gets 12 rows (three groups of 4), the others 1–3 (the M = 1..3
  // remainders); n % 8 != 0 leaves lane groups idle; k from one vector to the two-in-flight loop.
  one<T>(12, 8, 2, 192, 256, S, "hp_moe_gemm_gemv", rng);
  one<T>(13, 6, 3, 13, 40, S, "hp_moe_gemm_gemv", rng);
  one<T>(1, 16, 4, 24, 64, U, "hp_moe_gemm_gemv", rng);
  one<T>(5, 4, 4, 9, 1032, U, "hp_moe_gemm_gemv", rng);  // top_k = experts: every expert every token
  one<T>(3, 32, 2, 16, 8, U, "hp_moe_gemm_gemv", rng);   // mostly idle experts, one vector per row
  // Tiles: expert 1 gets all 160 rows (a full 128-row tile and 32 more); ragged columns (72 =
  // 64 + 8) and k (40 = 32 + 8); a uniform case with whole tiles.
  one<T>(160, 4, 2, 72, 40, S, "hp_moe_gemm_tile", rng);
  one<T>(96, 3, 2, 64, 64, U, "hp_moe_gemm_tile", rng);
  one<T>(40, 2, 1, 130, 16, U, "hp_moe_gemm_tile", rng);
}

EMU_TEST(moe_gemm, seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
