// attn_prefill.cu: hp_attn_prefill_{f16,bf16}_d{64,128} (FlashAttention-2, mma.sync,
// ldmatrix(.trans), cp.async), launched from core's plans.
#include "common.h"
#include "gen/attn_prefill.cu"
using namespace emu_test;
using namespace emu_attn_prefill;

EMU_KERNEL(hp_attn_prefill_f16_d64);
EMU_KERNEL(hp_attn_prefill_f16_d128);
EMU_KERNEL(hp_attn_prefill_bf16_d64);
EMU_KERNEL(hp_attn_prefill_bf16_d128);

template <typename T, int D> static void one(int b, int S, int hq, int hkv, int causal, std::mt19937_64& rng) {
  const EmuPlan* p = emu_plan(fmt("attn_prefill batch=%d,seq=%d,heads_q=%d,heads_kv=%d,head_dim=%d,causal=%d %s", b, S,
                                  hq, hkv, D, causal, dname<T>()));
  if (!p) return;
  Arena ar;
  auto q = uniform<T>((size_t)b * S * hq * D, rng);
  auto k = uniform<T>((size_t)b * S * hkv * D, rng), v = uniform<T>((size_t)b * S * hkv * D, rng);
  EmuRun run;
  emu_run(*p, {{"q", ar.upload(q)}, {"k", ar.upload(k)}, {"v", ar.upload(v)}}, run);
  std::vector<double> ref((size_t)b * S * hq * D), sc(S);
  const int grp = hq / hkv;
  for (int bb = 0; bb < b; ++bb)
    for (int h = 0; h < hq; ++h)
      for (int i = 0; i < S; ++i) {
        const int kh = h / grp, kend = causal ? i + 1 : S;
        double mx = -INFINITY;
        for (int j = 0; j < kend; ++j) {
          double s = 0;
          for (int x = 0; x < D; ++x)
            s += f64(q[(((size_t)bb * S + i) * hq + h) * D + x]) * f64(k[(((size_t)bb * S + j) * hkv + kh) * D + x]);
          sc[j] = s / std::sqrt((double)D);
          mx = std::max(mx, sc[j]);
        }
        double l = 0;
        for (int j = 0; j < kend; ++j) l += (sc[j] = std::exp(sc[j] - mx));
        for (int x = 0; x < D; ++x) {
          double acc = 0;
          for (int j = 0; j < kend; ++j) acc += sc[j] * f64(v[(((size_t)bb * S + j) * hkv + kh) * D + x]);
          ref[(((size_t)bb * S + i) * hq + h) * D + x] = acc / l;
        }
      }
  check(std::string("attn_prefill ") + dname<T>() + fmt(" d%d cp.async=%s", D, emu_cp_mode ? "early" : "late"),
        fmt("%s d=%d b=%d S=%d hq=%d hkv=%d causal=%d", dname<T>(), D, b, S, hq, hkv, causal),
        (const T*)run.outputs[p->check_index], ref);
}

EMU_TEST(attn_prefill, seed) {
  std::mt19937_64 rng(seed);
  for (int mode : {0, 1}) {
    emu_cp_mode = mode;
    one<f16_t, 64>(1, 1, 1, 1, 0, rng);
    one<bf16_t, 64>(1, 64, 2, 1, 1, rng);
    one<f16_t, 64>(2, 150, 4, 2, 1, rng);
    one<bf16_t, 128>(1, 129, 4, 1, 1, rng);
    if (mode == 0) {
      one<bf16_t, 64>(1, 150, 2, 2, 0, rng);
      one<f16_t, 128>(1, 129, 4, 1, 1, rng);
      one<bf16_t, 128>(2, 100, 2, 1, 0, rng);
      one<bf16_t, 128>(1, 192, 2, 2, 1, rng);
      one<f16_t, 128>(1, 65, 1, 1, 0, rng);
      one<f16_t, 64>(1, 127, 3, 1, 0, rng);
    }
  }
  emu_cp_mode = 0;
}
