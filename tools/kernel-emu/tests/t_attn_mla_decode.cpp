// attn_mla_decode.cu: hp_attn_mla_decode_*_l{512,64}_r{64,32}_h{16,32,64} (MLA decode over a
// paged latent cache, a cp.async ring in dynamic shared memory, tensor cores for f16/bf16 and
// CUDA cores for f32), their fp8-cache forms hp_attn_mla_decode_*_fp8kv_* (e4m3 codes, one
// scale) and hp_attn_mla_decode_combine_*, launched from core's plans: the instantiation, the
// split count, the ring depth, the dynamic shared memory and every argument are
// `hotpath kernels plan`'s.
#include "common.h"
#include "fp8_ref.h"
#include "gen/attn_mla_decode.cu"
using namespace emu_test;
using namespace emu_attn_mla_decode;

#define REG_W(DT, L, R) \
  EMU_KERNEL(hp_attn_mla_decode_##DT##_l##L##_r##R##_h16); \
  EMU_KERNEL(hp_attn_mla_decode_##DT##_l##L##_r##R##_h32); \
  EMU_KERNEL(hp_attn_mla_decode_##DT##_l##L##_r##R##_h64);
#define REG(DT) \
  REG_W(DT, 512, 64) REG_W(DT, 64, 32) REG_W(DT##_fp8kv, 512, 64) REG_W(DT##_fp8kv, 64, 32) \
  EMU_KERNEL(hp_attn_mla_decode_combine_##DT);
REG(f32)
REG(f16)
REG(bf16)

// One case: `b` sequences of at most L tokens (lens: each sequence's own length, default all
// L), hq heads on rows of kl + r elements, pages of ps tokens, device knobs for the plan;
// `fp8`: the cache holds e4m3 codes (every finite code) and K, V = code·kv_scale (a scale in
// [1, 2]/240).
template <typename T>
static void one(int b, int L, int hq, int kl, int r, int ps, std::vector<int> lens, const std::string& knobs,
                std::mt19937_64& rng, bool fp8 = false) {
  const std::string shape = fmt("batch=%d,context=%d,heads_q=%d,kv_lora=%d,rope_dim=%d,page_size=%d%s", b, L, hq, kl,
                                r, ps, fp8 ? ",kv_fp8=1" : "");
  const EmuPlan* plan = emu_plan("attn_mla_decode " + shape + " " + dname<T>() + (knobs.empty() ? "" : " " + knobs));
  if (!plan) return;
  if (lens.empty()) lens.assign(b, L);
  std::string label = shape + (knobs.empty() ? "" : " " + knobs) + fmt(" cp.async=%s", emu_cp_mode ? "early" : "late");
  if (lens != std::vector<int>(b, L)) {
    label += " lens=";
    for (int x : lens) label += fmt("%d,", x);
  }
  const std::string grp =
      std::string("attn_mla_decode ") + dname<T>() + (fp8 ? std::string(" fp8") + FP8_TAG : "") + fmt(" l%d", kl);
  if (!plan->error.empty()) {
    record(grp, label, false, INFINITY, "refused: " + plan->error);
    return;
  }
  const int w = kl + r, per_seq = (int)pages_for(L, ps), pages = b * per_seq;
  const size_t rows = (size_t)pages * ps * w;
  Arena ar;
  auto q = uniform<T>((size_t)b * hq * w, rng);
  std::vector<T> kc;
  std::vector<unsigned char> k8;
  std::vector<float> sc(1, 1.f);
  if (fp8) {
    k8.resize(rows);
    for (auto& x : k8) x = random_code(rng);
    sc[0] = std::uniform_real_distribution<float>(1.f / 240, 2.f / 240)(rng);
  } else {
    kc = uniform<T>(rows, rng);
  }
  auto table = permutation(pages, rng);  // block_table[b][per_seq]: a permutation of all pages
  EmuRun run;
  emu_run(*plan,
          {{"q", ar.upload(q)},
           {"kv_cache", fp8 ? (void*)ar.upload(k8) : (void*)ar.upload(kc)},
           {"block_table", ar.upload(table)},
           {"seq_lens", ar.upload(lens)},
           {"kv_scale", ar.upload(sc)}},
          run);
  // Element i of the cache: the dtype's value, or e4m3(code)·kv_scale.
  auto kv = [&](size_t i) { return fp8 ? e4m3(k8[i]) * sc[0] : f64(kc[i]); };
  const T* o = (const T*)run.outputs[plan->check_index];
  // f64 reference (crates/core/src/ops/attn_mla_decode/reference.rs): softmax(q·kᵀ/√w)·v over
  // each sequence's own tokens, k the whole row, v its first kl elements; an empty sequence
  // gives zeros.
  std::vector<double> ref((size_t)b * hq * kl, 0.0), s(L);
  const double scale = 1.0 / std::sqrt((double)w);
  for (int bb = 0; bb < b; ++bb)
    for (int h = 0; h < hq; ++h) {
      const int len = lens[bb];
      if (len == 0) continue;
      auto at = [&](int t) { return ((size_t)table[bb * per_seq + t / ps] * ps + t % ps) * w; };
      double mx = -INFINITY;
      for (int t = 0; t < len; ++t) {
        double a = 0;
        for (int e = 0; e < w; ++e) a += f64(q[((size_t)bb * hq + h) * w + e]) * kv(at(t) + e);
        s[t] = a * scale;
        mx = std::max(mx, s[t]);
      }
      double l = 0;
      for (int t = 0; t < len; ++t) l += (s[t] = std::exp(s[t] - mx));
      for (int e = 0; e < kl; ++e) {
        double acc = 0;
        for (int t = 0; t < len; ++t) acc += s[t] * kv(at(t) + e);
        ref[((size_t)bb * hq + h) * kl + e] = acc / l;
      }
    }
  check(grp, label, o, ref);
}

// Every dtype at the small width (64 + 32): head tiles of 16, 32 and 64, ragged lengths with
// a partial last page, a page size that does not divide the tile (5) and one of 1, forced
// splits with empty ones, the launcher's split count on a long context; then DeepSeek's
// width (512 + 64) at 16 and 64 heads.
template <typename T>
static void required(std::mt19937_64& rng, bool fp8) {
  one<T>(3, 203, 16, 64, 32, 64, {203, 150, 17}, "", rng, fp8);
  one<T>(2, 77, 32, 64, 32, 5, {77, 40}, "", rng, fp8);
  one<T>(2, 70, 64, 64, 32, 16, {70, 0}, "splits=5", rng, fp8);  // chunk 16: 16·4 + 6; an empty sequence
  one<T>(1, 37, 16, 64, 32, 1, {}, "splits=3", rng, fp8);        // page 1: 13, 13, 11
  one<T>(1, 1100, 16, 64, 32, 64, {}, "", rng, fp8);             // the launcher's splits
  one<T>(2, 90, 16, 512, 64, 64, {90, 33}, "", rng, fp8);
  one<T>(1, 40, 64, 512, 64, 64, {}, "splits=2", rng, fp8);    // chunk 64: 40 tokens, an empty split
}

// Rings of 1, 2 and 3 stages by the device's shared memory (bf16, 16 heads, 64 + 32: queries
// 3,328 B + exchange 4,096 B + stages of 6,656 B; an fp8 cache adds a decoded tile of 6,656 B
// and its stages are 3,584 B).
[[maybe_unused]] static void rings(std::mt19937_64& rng) {
  for (const char* knobs : {"smem_per_block=15000", "smem_per_block=21000", "smem_per_block=27500"})
    one<bf16_t>(1, 300, 16, 64, 32, 64, {}, knobs, rng);
  for (const char* knobs : {"smem_per_block=17700", "smem_per_block=21300"})
    one<bf16_t>(1, 300, 16, 64, 32, 64, {}, knobs, rng, true);
}

#if defined(HP_FP8_FNUZ)
// The fnuz build (the encoding of gfx94x): the fp8 cache's decode on both paths.
EMU_TEST(attn_mla_decode_fnuz, seed) {
  std::mt19937_64 rng(seed);
  one<bf16_t>(3, 203, 16, 64, 32, 64, {203, 150, 17}, "", rng, true);
  one<float>(2, 77, 32, 64, 32, 5, {77, 40}, "splits=3", rng, true);
  one<f16_t>(1, 60, 16, 512, 64, 64, {}, "", rng, true);
}
#else
EMU_TEST(attn_mla_decode, seed) {
  std::mt19937_64 rng(seed);
  for (bool fp8 : {false, true}) {
    required<bf16_t>(rng, fp8);
    required<f16_t>(rng, fp8);
    required<float>(rng, fp8);
  }
  rings(rng);
  // cp.async copies landing at issue (the earliest legal moment) on a subset.
  emu_cp_mode = 1;
  one<bf16_t>(2, 203, 32, 64, 32, 16, {203, 100}, "", rng);
  one<bf16_t>(1, 300, 16, 64, 32, 64, {}, "smem_per_block=21000", rng, true);
  one<f16_t>(1, 70, 16, 512, 64, 64, {}, "", rng);
  emu_cp_mode = 0;
}
#endif
