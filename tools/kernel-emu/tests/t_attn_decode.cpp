// attn_decode.cu: hp_attn_decode_*_d{64,128,256}_g{1,2,4,8,16} (flash-decoding over a paged
// cache, a multi-stage cp.async ring in dynamic shared memory), their fp8-cache forms
// hp_attn_decode_*_fp8kv_* (e4m3 codes, a scale per KV head) and hp_attn_decode_combine_*,
// launched from core's plans: which instantiation, the split count, the ring depth, the
// dynamic shared memory and every argument are `hotpath kernels plan`'s.
#include "common.h"
#include "fp8_ref.h"
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
REG_D(f32_fp8kv, 64) REG_D(f32_fp8kv, 128) REG_D(f32_fp8kv, 256)
REG_D(f16_fp8kv, 64) REG_D(f16_fp8kv, 128) REG_D(f16_fp8kv, 256)
REG_D(bf16_fp8kv, 64) REG_D(bf16_fp8kv, 128) REG_D(bf16_fp8kv, 256)

// n random codes over every finite code of fp8_ref.h's encoding: both signs, subnormals, the
// largest magnitudes.
static std::vector<unsigned char> codes(size_t n, std::mt19937_64& rng) {
  std::vector<unsigned char> v(n);
  for (auto& x : v) x = random_code(rng);
  return v;
}

// One case: `b` sequences of at most L tokens (lens: each sequence's own length, default all
// L), hq/hkv heads of dimension D, pages of ps tokens, device knobs for the plan; `fp8`: the
// cache holds e4m3 codes and K = code·k_scale[g], V = code·v_scale[g] (scales of [1, 2]/240).
template <typename T>
static void one(int b, int L, int hq, int hkv, int D, int ps, std::vector<int> lens, const std::string& knobs,
                std::mt19937_64& rng, bool fp8 = false) {
  const std::string shape = fmt("batch=%d,context=%d,heads_q=%d,heads_kv=%d,head_dim=%d,page_size=%d%s", b, L, hq,
                                hkv, D, ps, fp8 ? ",kv_fp8=1" : "");
  const EmuPlan* plan = emu_plan("attn_decode " + shape + " " + dname<T>() + (knobs.empty() ? "" : " " + knobs));
  if (!plan) return;
  if (lens.empty()) lens.assign(b, L);
  std::string label = shape + (knobs.empty() ? "" : " " + knobs) + fmt(" cp.async=%s", emu_cp_mode ? "early" : "late");
  if (lens != std::vector<int>(b, L)) {
    label += " lens=";
    for (int x : lens) label += fmt("%d,", x);
  }
  const std::string grp = std::string("attn_decode ") + dname<T>() + (fp8 ? std::string(" fp8") + FP8_TAG : "") + fmt(" d%d", D);
  if (!plan->error.empty()) {
    record(grp, label, false, INFINITY, "refused: " + plan->error);
    return;
  }
  const int per_seq = (int)pages_for(L, ps), pages = b * per_seq;
  Arena ar;
  const size_t cache = (size_t)pages * ps * hkv * D;
  auto q = uniform<T>((size_t)b * hq * D, rng);
  std::vector<T> kc, vc;
  std::vector<unsigned char> k8, v8;
  std::vector<float> ks(hkv, 1.f), vs(hkv, 1.f);
  if (fp8) {
    k8 = codes(cache, rng), v8 = codes(cache, rng);
    std::uniform_real_distribution<float> us(1.f / 240, 2.f / 240);
    for (int g = 0; g < hkv; ++g) ks[g] = us(rng), vs[g] = us(rng);
  } else {
    kc = uniform<T>(cache, rng), vc = uniform<T>(cache, rng);
  }
  auto table = permutation(pages, rng);  // block_table[b][per_seq]: a permutation of all pages
  EmuRun run;
  emu_run(*plan,
          {{"q", ar.upload(q)},
           {"k_cache", fp8 ? (void*)ar.upload(k8) : (void*)ar.upload(kc)},
           {"v_cache", fp8 ? (void*)ar.upload(v8) : (void*)ar.upload(vc)},
           {"block_table", ar.upload(table)},
           {"seq_lens", ar.upload(lens)},
           {"k_scale", ar.upload(ks)},
           {"v_scale", ar.upload(vs)}},
          run);
  // The cache's values: the dtype's, or e4m3(code)·scale of the element's KV head.
  auto kv = [&](bool key, size_t i) {
    if (!fp8) return f64(key ? kc[i] : vc[i]);
    const size_t g = i / D % hkv;
    return key ? e4m3(k8[i]) * ks[g] : e4m3(v8[i]) * vs[g];
  };
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
        for (int e = 0; e < D; ++e) s += f64(q[((size_t)bb * hq + h) * D + e]) * kv(true, at(t) + e);
        sc[t] = s * scale;
        mx = std::max(mx, sc[t]);
      }
      double l = 0;
      for (int t = 0; t < len; ++t) l += (sc[t] = std::exp(sc[t] - mx));
      for (int e = 0; e < D; ++e) {
        double acc = 0;
        for (int t = 0; t < len; ++t) acc += sc[t] * kv(false, at(t) + e);
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

// The fp8 cache: every head dim on the tensor-core (group 4, 8, 16) and CUDA-core (group 1,
// 2; f32) paths, forced splits with empty ones, rings of 1, 2, 3 and 4 stages of 1-byte rows
// (the device's shared memory as a knob), ragged and empty sequences, odd page sizes.
template <typename T>
static void fp8_cases(std::mt19937_64& rng) {
  for (int D : {64, 128, 256}) {
    one<T>(3, 203, 32, 8, D, 16, {203, 150, 17}, "", rng, true);  // group 4
    one<T>(2, 77, 16, 8, D, 16, {77, 0}, "splits=3", rng, true);  // group 2, an empty sequence
  }
  one<T>(3, 150, 8, 8, 128, 5, {1, 150, 99}, "", rng, true);           // group 1, page 5
  one<T>(2, 90, 40, 8, 64, 64, {90, 64}, "", rng, true);               // group 5 → 8, page 64
  one<T>(1, 200, 16, 1, 128, 16, {}, "splits=2", rng, true);           // group 16
  one<T>(2, 33, 8, 4, 64, 8, {}, "splits=4", rng, true);               // 16, 16, 1, 0 tokens
  one<T>(1, 4100, 32, 8, 128, 16, {}, "", rng, true);                  // the launcher's splits
}

// Rings of the fp8 cache's stages: d 64 group 4 on tensor cores (stage 8 KiB, Q 2 KiB),
// d 128 group 1 on CUDA cores (stage 16 KiB), by the device's shared memory.
[[maybe_unused]] static void fp8_rings(std::mt19937_64& rng) {
  for (const char* knobs : {"smem_per_block=12000", "smem_per_block=27000", ""})  // 1, 3, 4 stages
    one<bf16_t>(1, 500, 32, 8, 64, 16, {}, knobs, rng, true);
  for (const char* knobs : {"smem_per_block=20000", "smem_per_block=40000", "smem_per_block=50000"})  // 1, 2, 3
    one<bf16_t>(1, 500, 8, 8, 128, 16, {}, knobs, rng, true);
}

#if defined(HP_FP8_FNUZ)
// The fnuz build (the encoding of gfx94x): the CUDA-core path AMD runs (group 1, 2; f32 q),
// and one tensor-core case of each 2-byte dtype (the f16-view decode's fnuz scale).
EMU_TEST(attn_decode_fnuz, seed) {
  std::mt19937_64 rng(seed);
  one<bf16_t>(3, 150, 8, 8, 128, 5, {1, 150, 99}, "", rng, true);      // group 1, page 5
  one<f16_t>(2, 77, 16, 8, 64, 16, {77, 0}, "splits=3", rng, true);    // group 2, an empty sequence
  one<float>(2, 90, 32, 8, 256, 16, {90, 31}, "", rng, true);          // f32 q, group 4
  one<bf16_t>(3, 203, 32, 8, 64, 16, {203, 150, 17}, "", rng, true);   // tensor cores, group 4
  one<f16_t>(1, 200, 16, 1, 128, 16, {}, "splits=2", rng, true);       // tensor cores, group 16
}
#else
EMU_TEST(attn_decode, seed) {
  std::mt19937_64 rng(seed);
  required<float>(rng);
  required<f16_t>(rng);
  required<bf16_t>(rng);
  variety<bf16_t>(rng);
  variety<float>(rng);
  fp8_cases<bf16_t>(rng);
  fp8_cases<f16_t>(rng);
  fp8_cases<float>(rng);
  fp8_rings(rng);
  // cp.async copies landing at issue (the earliest legal moment) on a subset.
  emu_cp_mode = 1;
  one<bf16_t>(2, 203, 32, 8, 128, 16, {203, 100}, "", rng);
  one<bf16_t>(1, 500, 32, 8, 64, 16, {}, "smem_per_block=51200", rng);
  one<f16_t>(2, 77, 64, 8, 256, 16, {77, 40}, "", rng);
  one<bf16_t>(2, 203, 32, 8, 64, 16, {203, 100}, "", rng, true);
  emu_cp_mode = 0;
}
#endif
