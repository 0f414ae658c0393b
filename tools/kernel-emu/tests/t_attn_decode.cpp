// attn_decode.cu: hp_attn_decode_*_d{64,128,256}_g{1,2,4,8,16} (flash-decoding over a paged
// cache, a multi-stage cp.async ring in dynamic shared memory) and hp_attn_decode_combine_*,
// launched from core's plans: which instantiation, the split count, the ring depth, the
// dynamic shared memory and every argument are `hotpath kernels plan`'s.
#include "common.h"
#include "gen/attn_decode.cu"
using namespace emu_test;
using namespace emu_attn_decode;

#define REG_D(DT, D) \
  EMU_KERNEL(hp_attn_decode_##DT##_d##D##_g1); \
  EMU_KERNEL(hp_attn_decode_##DT##_d##D##_g2); \
  EMU_KERNEL(hp_attn_decode_##DT##_d##D##_g4); \
  EMU_KERNEL(hp_attn_decode_##DT##_d##D##_g8); \
  EMU_KERNEL(hp_attn_decode_##DT##_d##D##_g16);
#define REG(DT) REG_D(DT, 64) REG_D(DT, 128) REG_D(DT, 256) EMU_KERNEL(hp_attn_decode_combine_##DT);
REG(f32)
REG(f16)
REG(bf16)

// One case: `b` sequences of at most L tokens (lens: each sequence's own length, default all
// L), hq/hkv heads of dimension D, pages of ps tokens, device knobs for the plan.
template <typename T>
static void one(int b, int L, int hq, int hkv, int D, int ps, std::vector<int> lens, const std::string& knobs,
                std::mt19937_64& rng) {
  const std::string shape = fmt("batch=%d,context=%d,heads_q=%d,heads_kv=%d,head_dim=%d,page_size=%d", b, L, hq, hkv,
                                D, ps);
  const EmuPlan* plan = emu_plan("attn_decode " + shape + " " + dname<T>() + (knobs.empty() ? "" : " " + knobs));
  if (!plan) return;
  if (lens.empty()) lens.assign(b, L);
  std::string label = shape + (knobs.empty() ? "" : " " + knobs) + fmt(" cp.async=%s", emu_cp_mode ? "early" : "late");
  if (lens != std::vector<int>(b, L)) {
    label += " lens=";
    for (int x : lens) label += fmt("%d,", x);
  }
  const std::string grp = std::string("attn_decode ") + dname<T>() + fmt(" d%d", D);
  if (!plan->error.empty()) {
    record(grp, label, false, INFINITY, "refused: " + plan->error);
    return;
  }
  const int per_seq = (int)pages_for(L, ps), pages = b * per_seq;
  Arena ar;
  auto q = uniform<T>((size_t)b * hq * D, rng);
  auto kc = uniform<T>((size_t)pages * ps * hkv * D, rng), vc = uniform<T>((size_t)pages * ps * hkv * D, rng);
  auto table = permutation(pages, rng);  // block_table[b][per_seq]: a permutation of all pages
  EmuRun run;
  emu_run(*plan,
          {{"q", ar.upload(q)}, {"k_cache", ar.upload(kc)}, {"v_cache", ar.upload(vc)}, {"block_table", ar.upload(table)},
           {"seq_lens", ar.upload(lens)}},
          run);
  const T* o = (const T*)run.outputs[plan->check_index];
  // f64 reference (crates/core/src/reference/attention.rs): softmax(q·kᵀ/√d)·v over each
  // sequence's own tokens; an empty sequence gives zeros.
  std::vector<double> ref((size_t)b * hq * D, 0.0), sc(L);
  const int grp_size = hq / hkv;
  const double scale = 1.0 / std::sqrt((double)D);
  for (int bb = 0; bb < b; ++bb)
    for (int h = 0; h < hq; ++h) {
      const int g = h / grp_size, len = lens[bb];
      if (len == 0) continue;
      auto at = [&](int t) { return (((size_t)table[bb * per_seq + t / ps] * ps + t % ps) * hkv + g) * D; };
      double mx = -INFINITY;
      for (int t = 0; t < len; ++t) {
        double s = 0;
        for (int e = 0; e < D; ++e) s += f64(q[((size_t)bb * hq + h) * D + e]) * f64(kc[at(t) + e]);
        sc[t] = s * scale;
        mx = std::max(mx, sc[t]);
      }
      double l = 0;
      for (int t = 0; t < len; ++t) l += (sc[t] = std::exp(sc[t] - mx));
      for (int e = 0; e < D; ++e) {
        double acc = 0;
        for (int t = 0; t < len; ++t) acc += sc[t] * f64(vc[at(t) + e]);
        ref[((size_t)bb * hq + h) * D + e] = acc / l;
      }
    }
  check(grp, label, o, ref);
}

// The shapes the decode kernel is built for, on every dtype: the GQA ratios of Llama-3.1-8B
// (32/8), -70B (64/8), an 8/8 and a 128/128 MHA, each at head dims 64, 128 and 256, with
// contexts that are not a multiple of the page size and a batch of mixed lengths.
template <typename T>
static void required(std::mt19937_64& rng) {
  for (int D : {64, 128, 256}) {
    one<T>(3, 203, 32, 8, D, 16, {203, 150, 17}, "", rng);
    one<T>(2, 77, 64, 8, D, 16, {77, 40}, "", rng);
    one<T>(3, 150, 8, 8, D, 16, {1, 150, 99}, "", rng);
    one<T>(2, 37, 128, 128, D, 16, {37, 20}, "", rng);
  }
}

// Everything else a plan can choose, on bf16 (the serving dtype) unless named: groups that
// round up (3, 5, 7 → 4, 8, 8), 2 and 16; page sizes 1, 5, 8, 64; forced splits with empty
// ones; rings of 1, 3 and 4 stages (the device's shared memory as a knob); long contexts
// with the launcher's split count; an empty sequence.
template <typename T>
static void variety(std::mt19937_64& rng) {
  one<T>(2, 17, 8, 2, 128, 16, {}, "splits=3", rng);          // chunk 16: splits of 16, 1, 0 tokens
  one<T>(1, 1, 1, 1, 64, 16, {}, "", rng);                    // one token
  one<T>(2, 33, 8, 4, 64, 8, {}, "splits=4", rng);            // page 8: 16, 16, 1, 0
  one<T>(1, 17, 4, 4, 128, 1, {}, "splits=5", rng);           // page 1: 4, 4, 4, 4, 1
  one<T>(2, 50, 24, 8, 128, 5, {50, 13}, "splits=3", rng);    // group 3 → G 4, page 5
  one<T>(2, 90, 40, 8, 64, 64, {90, 64}, "", rng);            // group 5 → G 8, page 64
  one<T>(1, 300, 56, 8, 128, 16, {}, "", rng);                // group 7 → G 8
  one<T>(2, 70, 16, 8, 256, 16, {70, 0}, "", rng);            // group 2, an empty sequence
  one<T>(1, 200, 16, 1, 128, 16, {}, "splits=2", rng);        // group 16
  one<T>(1, 500, 32, 8, 64, 16, {}, "smem_per_block=20000", rng);   // ring of 1 stage
  one<T>(1, 500, 32, 8, 64, 16, {}, "smem_per_block=51200", rng);   // ring of 3 stages
  one<T>(1, 500, 32, 8, 64, 16, {}, "", rng);                       // ring of 4 stages
  one<T>(1, 4100, 32, 8, 128, 16, {}, "", rng);               // the launcher's split count, 64+ tiles
  one<T>(3, 1000, 64, 8, 128, 16, {1000, 999, 512}, "units=8", rng);  // few SMs: fewer, longer splits
}

EMU_TEST(attn_decode, seed) {
  std::mt19937_64 rng(seed);
  required<float>(rng);
  required<f16_t>(rng);
  required<bf16_t>(rng);
  variety<bf16_t>(rng);
  variety<float>(rng);
  // cp.async copies landing at issue (the earliest legal moment) on a subset.
  emu_cp_mode = 1;
  one<bf16_t>(2, 203, 32, 8, 128, 16, {203, 100}, "", rng);
  one<bf16_t>(1, 500, 32, 8, 64, 16, {}, "smem_per_block=51200", rng);
  one<f16_t>(2, 77, 64, 8, 256, 16, {77, 40}, "", rng);
  emu_cp_mode = 0;
}
