// attn_decode.cu: hp_attn_decode_*_d{64,128} (flash-decoding partials over a paged cache)
// and hp_attn_decode_combine_*.
#include "common.h"
#include "gen/attn_decode.cu"
using namespace emu_test;
using namespace emu_attn_decode;

template <typename T, int D> static auto decode_kernel() {
  if constexpr (std::is_same_v<T, float>) return D == 64 ? &hp_attn_decode_f32_d64 : &hp_attn_decode_f32_d128;
  else if constexpr (std::is_same_v<T, f16_t>) return D == 64 ? &hp_attn_decode_f16_d64 : &hp_attn_decode_f16_d128;
  else return D == 64 ? &hp_attn_decode_bf16_d64 : &hp_attn_decode_bf16_d128;
}
template <typename T> static auto combine_kernel() {
  if constexpr (std::is_same_v<T, float>) return &hp_attn_decode_combine_f32;
  else if constexpr (std::is_same_v<T, f16_t>) return &hp_attn_decode_combine_f16;
  else return &hp_attn_decode_combine_bf16;
}

// forced_splits = 0: the launcher's choice, launch::decode_splits(batch, hkv, L, 132).
template <typename T, int D>
static void one(int b, int L, int hq, int hkv, int ps, int forced_splits, std::mt19937_64& rng) {
  const int splits = forced_splits ? forced_splits : (int)decode_splits(b, hkv, L, H100_SMS);
  const long long chunk = (long long)decode_chunk(L, splits, ps);
  const int empty = splits - (int)div_ceil(L, chunk);
  const int per_seq = (int)pages_for(L, ps), pages = b * per_seq;
  const std::string shape = fmt("%s d=%d b=%d L=%d hq=%d hkv=%d ps=%d splits=%d%s chunk=%lld%s", dname<T>(), D, b, L, hq,
                                hkv, ps, splits, forced_splits ? "(forced)" : "", chunk,
                                empty > 0 ? fmt(" empty_splits=%d", empty).c_str() : "");
  Arena ar;
  auto q = uniform<T>((size_t)b * hq * D, rng);
  auto kc = uniform<T>((size_t)pages * ps * hkv * D, rng), vc = uniform<T>((size_t)pages * ps * hkv * D, rng);
  auto table = permutation(pages, rng);  // block_table[b][per_seq]: a permutation of all pages
  T* dq = ar.upload(q);
  T* dk = ar.upload(kc);
  T* dv = ar.upload(vc);
  int* dt = ar.upload(table);
  const size_t rows = (size_t)b * hq * splits;
  float* part_o = ar.alloc<float>(rows * D, 0xff);  // NaN: every partial must be written
  float* part_ml = ar.alloc<float>(rows * 2, 0xff);
  T* o = ar.alloc<T>((size_t)b * hq * D, 0xff);
  emu_launch_named("hp_attn_decode", geo_attn_decode(b, hkv, splits), threads(128), decode_kernel<T, D>(), (const T*)dq,
                   (const T*)dk, (const T*)dv, (const int*)dt, part_o, part_ml, b, L, hq, hkv, ps, per_seq, splits);
  emu_launch_named("hp_attn_decode_combine", geo_attn_decode_combine(b, hq), threads(D), combine_kernel<T>(),
                   (const float*)part_o, (const float*)part_ml, o, b, hq, splits, D);
  // f64 reference (crates/core/src/reference/attention.rs): softmax(q·kᵀ/√d)·v over L tokens
  std::vector<double> ref((size_t)b * hq * D), sc(L);
  const int grp = hq / hkv;
  const double scale = 1.0 / std::sqrt((double)D);
  for (int bb = 0; bb < b; ++bb)
    for (int h = 0; h < hq; ++h) {
      const int g = h / grp;
      auto at = [&](int t) { return (((size_t)table[bb * per_seq + t / ps] * ps + t % ps) * hkv + g) * D; };
      double mx = -INFINITY;
      for (int t = 0; t < L; ++t) {
        double s = 0;
        for (int e = 0; e < D; ++e) s += f64(q[((size_t)bb * hq + h) * D + e]) * f64(kc[at(t) + e]);
        sc[t] = s * scale;
        mx = std::max(mx, sc[t]);
      }
      double l = 0;
      for (int t = 0; t < L; ++t) l += (sc[t] = std::exp(sc[t] - mx));
      for (int e = 0; e < D; ++e) {
        double acc = 0;
        for (int t = 0; t < L; ++t) acc += sc[t] * f64(vc[at(t) + e]);
        ref[((size_t)bb * hq + h) * D + e] = acc / l;
      }
    }
  check(std::string("attn_decode ") + dname<T>() + fmt(" d%d", D), shape, o, ref);
}

template <typename T, int D> static void all(std::mt19937_64& rng) {
  // (batch, context, hq, hkv, page_size, splits; 0 = launcher's choice)
  one<T, D>(1, 1, 1, 1, 16, 0, rng);      // one token
  one<T, D>(2, 15, 4, 1, 16, 0, rng);     // part of one page, GQA 4
  one<T, D>(3, 16, 8, 1, 16, 0, rng);     // exactly one page, GQA 8, batch 3
  one<T, D>(1, 17, 16, 1, 16, 0, rng);    // one token into page 2, GQA 16
  one<T, D>(2, 17, 8, 2, 16, 3, rng);     // chunk 16: splits of 16, 1 and 0 tokens
  one<T, D>(1, 1000, 4, 1, 16, 0, rng);   // launcher: 4 splits of 256 (last 232)
  one<T, D>(1, 1000, 1, 1, 16, 1, rng);   // one split over 1000 tokens
  one<T, D>(2, 33, 8, 4, 8, 4, rng);      // page 8: chunk 16 → 16, 16, 1, 0
  one<T, D>(1, 17, 4, 4, 1, 5, rng);      // page 1: chunk 4 → 4, 4, 4, 4, 1
  one<T, D>(3, 300, 16, 2, 32, 0, rng);   // page 32, launcher: 2 splits of 160/140
  one<T, D>(1, 40, 2, 1, 16, 7, rng);     // chunk 16 → 3 splits with tokens, 4 empty
  one<T, D>(1, 15, 16, 1, 1, 2, rng);     // page 1: chunk 8 → 8, 7
  one<T, D>(2, 1000, 8, 1, 8, 0, rng);    // page 8, launcher: 4 splits of 256
  if (std::is_same_v<T, bf16_t> || D == 128) {  // the long ones on fewer dtype × d combinations
    one<T, D>(3, 1000, 16, 1, 16, 0, rng);  // batch 3, GQA 16, launcher: 4 splits
    one<T, D>(1, 4100, 4, 1, 16, 0, rng);   // launcher: 17 splits of 256, the last with 4 tokens
  }
  one<T, D>(2, 50, 4, 2, 12, 3, rng);     // page 12 (outside the README's list): chunk 24 → 24, 24, 2
  one<T, D>(1, 23, 8, 1, 5, 4, rng);      // page 5: chunk 10 → 10, 10, 3, 0
}

void test_attn_decode(uint64_t seed) {
  std::mt19937_64 rng(seed);
  all<float, 64>(rng);
  all<float, 128>(rng);
  all<f16_t, 64>(rng);
  all<f16_t, 128>(rng);
  all<bf16_t, 64>(rng);
  all<bf16_t, 128>(rng);
}
