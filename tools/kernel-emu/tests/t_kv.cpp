// kv.cu: hp_kv_write_* (scatter by slot_mapping) and hp_kv_read_* (gather by block_table),
// and their fp8-cache forms hp_kv_{write,read}_*_fp8kv (quantize by, and dequantize with, a
// scale per KV head), launched from core's plans.
#include "common.h"
#include "fp8_ref.h"
#include "gen/kv.cu"
using namespace emu_test;
using namespace emu_kv;

EMU_KERNEL(hp_kv_write_f32);
EMU_KERNEL(hp_kv_write_f16);
EMU_KERNEL(hp_kv_write_bf16);
EMU_KERNEL(hp_kv_read_f32);
EMU_KERNEL(hp_kv_read_f16);
EMU_KERNEL(hp_kv_read_bf16);
EMU_KERNEL(hp_kv_write_f32_fp8kv);
EMU_KERNEL(hp_kv_write_f16_fp8kv);
EMU_KERNEL(hp_kv_write_bf16_fp8kv);
EMU_KERNEL(hp_kv_read_f32_fp8kv);
EMU_KERNEL(hp_kv_read_f16_fp8kv);
EMU_KERNEL(hp_kv_read_bf16_fp8kv);

// How a kv_write fp8 case draws its inputs: random values and scales of [1, 2]/240 (codes up
// to 240), exact ties between two codes with scale 1 (round to even), or scales of [1, 2]/1000
// (codes past the largest, 448 or 240: saturation).
enum class Fp8Case { Random, Ties, Saturating };

// The fp8 cache (fp8_ref.h: OCP e4m3, or e4m3fnuz in the fnuz build): kv_write's codes must
// equal, code for code, the nearest code to x·(1/scale) (f32 operations, as core's
// reference); kv_read's rows are code·scale in T.
template <typename T>
static void one_fp8(int tokens, int hkv, int d, int ps, int pad_tokens, std::mt19937_64& rng,
                    Fp8Case mode = Fp8Case::Random) {
  const int row = hkv * d;
  const long long pages = (long long)pages_for(tokens, ps), slots = pages * ps;
  const std::string dims = fmt("tokens=%d,heads_kv=%d,head_dim=%d,page_size=%d,kv_fp8=1", tokens, hkv, d, ps);
  const char* how = mode == Fp8Case::Ties ? " ties" : mode == Fp8Case::Saturating ? " saturating" : "";
  const std::string shape = fmt("%s T=%d hkv=%d d=%d ps=%d fp8%s%s%s", dname<T>(), tokens, hkv, d, ps, FP8_TAG, how,
                                pad_tokens ? fmt(" padding=%d", pad_tokens).c_str() : "");
  const float top = mode == Fp8Case::Saturating ? 1000.f : 240.f;
  std::uniform_real_distribution<float> us(1.f / top, 2.f / top);
  std::vector<float> ks(hkv), vs(hkv);
  for (int h = 0; h < hkv; ++h) ks[h] = mode == Fp8Case::Ties ? 1.f : us(rng), vs[h] = mode == Fp8Case::Ties ? 1.f : us(rng);
  if (const EmuPlan* p = emu_plan("kv_write " + dims + " " + dname<T>())) {
    Arena ar;
    auto k = uniform<T>((size_t)tokens * row, rng), v = uniform<T>((size_t)tokens * row, rng);
    if (mode == Fp8Case::Ties) {
      // Midpoints between neighbouring codes up to 240 that T holds exactly, either sign.
      std::vector<float> mids;
      for (int c = 0; c < FP8_TOP && e4m3((unsigned char)(c + 1)) <= 240.0; ++c) {
        const float mid = (float)((e4m3((unsigned char)c) + e4m3((unsigned char)(c + 1))) / 2);
        if (hp_to_float(hp_from_float<T>(mid)) == mid) mids.push_back(mid);
      }
      std::uniform_int_distribution<size_t> pick(0, 2 * mids.size() - 1);
      for (auto* x : {&k, &v})
        for (auto& e : *x) {
          const size_t i = pick(rng);
          e = hp_from_float<T>(i % 2 ? -mids[i / 2] : mids[i / 2]);
        }
    }
    auto perm = permutation((int)slots, rng);
    std::vector<int> map(perm.begin(), perm.begin() + tokens);
    for (int i = 0; i < pad_tokens && i < tokens; ++i) map[(i * 7919) % tokens] = -1;
    EmuRun run;
    emu_run(*p, {{"k", ar.upload(k)}, {"v", ar.upload(v)}, {"slot_mapping", ar.upload(map)},
                 {"k_scale", ar.upload(ks)}, {"v_scale", ar.upload(vs)}}, run, 0x00);
    std::vector<unsigned char> want(2 * slots * row, 0);
    for (int t = 0; t < tokens; ++t) {
      if (map[t] < 0) continue;
      for (int e = 0; e < row; ++e) {
        want[(size_t)map[t] * row + e] = nearest_e4m3(hp_to_float(k[(size_t)t * row + e]) * (1.f / ks[e / d]));
        want[(size_t)(slots + map[t]) * row + e] = nearest_e4m3(hp_to_float(v[(size_t)t * row + e]) * (1.f / vs[e / d]));
      }
    }
    const unsigned char* got = (const unsigned char*)run.outputs[p->check_index];
    size_t wrong = 0;
    for (size_t i = 0; i < want.size(); ++i) wrong += got[i] != want[i];
    record(std::string("kv_write fp8") + FP8_TAG + " " + dname<T>(), shape, wrong == 0, wrong ? INFINITY : 0.0,
           wrong ? fmt("%zu codes differ", wrong) : "");
  }
  if (pad_tokens || mode != Fp8Case::Random) return;
  if (const EmuPlan* p = emu_plan("kv_read " + dims + " " + dname<T>())) {
    Arena ar;
    std::vector<unsigned char> kc(slots * row), vc(slots * row);
    for (auto* c : {&kc, &vc})
      for (auto& x : *c) x = random_code(rng);  // no NaN codes
    auto table = permutation((int)pages, rng);
    EmuRun run;
    emu_run(*p, {{"k_cache", ar.upload(kc)}, {"v_cache", ar.upload(vc)}, {"block_table", ar.upload(table)},
                 {"k_scale", ar.upload(ks)}, {"v_scale", ar.upload(vs)}}, run);
    std::vector<double> ref(2 * (size_t)tokens * row);
    for (int t = 0; t < tokens; ++t) {
      const size_t slot = (size_t)table[t / ps] * ps + t % ps;
      for (int e = 0; e < row; ++e) {
        ref[(size_t)t * row + e] = e4m3(kc[slot * row + e]) * ks[e / d];
        ref[(size_t)(tokens + t) * row + e] = e4m3(vc[slot * row + e]) * vs[e / d];
      }
    }
    check(std::string("kv_read fp8") + FP8_TAG + " " + dname<T>(), shape, (const T*)run.outputs[p->check_index], ref);
  }
}

template <typename T> static void one(int tokens, int hkv, int d, int ps, int pad_tokens, std::mt19937_64& rng) {
  const int row = hkv * d;
  const long long pages = (long long)pages_for(tokens, ps), slots = pages * ps;
  const std::string dims = fmt("tokens=%d,heads_kv=%d,head_dim=%d,page_size=%d", tokens, hkv, d, ps);
  const std::string shape = fmt("%s T=%d hkv=%d d=%d ps=%d row_bytes=%d%s", dname<T>(), tokens, hkv, d, ps,
                                row * (int)sizeof(T), pad_tokens ? fmt(" padding=%d", pad_tokens).c_str() : "");
  // kv_write: slot_mapping = the first T entries of a permutation of the slots (inputs.rs);
  // optionally some tokens are padding (slot −1) and must be skipped.
  if (const EmuPlan* p = emu_plan("kv_write " + dims + " " + dname<T>())) {
    Arena ar;
    auto k = uniform<T>((size_t)tokens * row, rng), v = uniform<T>((size_t)tokens * row, rng);
    auto perm = permutation((int)slots, rng);
    std::vector<int> map(perm.begin(), perm.begin() + tokens);
    for (int i = 0; i < pad_tokens && i < tokens; ++i) map[(i * 7919) % tokens] = -1;
    EmuRun run;
    // The cache starts zeroed, as the CUDA launcher allocates outputs: slots no token maps
    // to must still be zero afterwards.
    emu_run(*p, {{"k", ar.upload(k)}, {"v", ar.upload(v)}, {"slot_mapping", ar.upload(map)}}, run, 0x00);
    std::vector<double> ref(2 * slots * row, 0.0);
    for (int t = 0; t < tokens; ++t) {
      if (map[t] < 0) continue;
      for (int e = 0; e < row; ++e) {
        ref[(size_t)map[t] * row + e] = f64(k[(size_t)t * row + e]);
        ref[(size_t)(slots + map[t]) * row + e] = f64(v[(size_t)t * row + e]);
      }
    }
    check(std::string("kv_write ") + dname<T>(), shape, (const T*)run.outputs[p->check_index], ref);
  }
  if (pad_tokens) return;
  // kv_read: block_table = a permutation of the pages; tokens past T in the last page are garbage.
  if (const EmuPlan* p = emu_plan("kv_read " + dims + " " + dname<T>())) {
    Arena ar;
    auto kc = uniform<T>((size_t)slots * row, rng), vc = uniform<T>((size_t)slots * row, rng);
    auto table = permutation((int)pages, rng);
    EmuRun run;
    emu_run(*p, {{"k_cache", ar.upload(kc)}, {"v_cache", ar.upload(vc)}, {"block_table", ar.upload(table)}}, run);
    std::vector<double> ref(2 * (size_t)tokens * row);
    for (int t = 0; t < tokens; ++t) {
      const size_t slot = (size_t)table[t / ps] * ps + t % ps;
      for (int e = 0; e < row; ++e) {
        ref[(size_t)t * row + e] = f64(kc[slot * row + e]);
        ref[(size_t)(tokens + t) * row + e] = f64(vc[slot * row + e]);
      }
    }
    check(std::string("kv_read ") + dname<T>(), shape, (const T*)run.outputs[p->check_index], ref);
  }
}

template <typename T> static void all(std::mt19937_64& rng) {
  // (tokens, hkv, d, page_size): tokens not a multiple of the page size; rows of 16-byte
  // multiples (vector path) and not (element path: row 3, 18, 36 bytes...)
  one<T>(37, 2, 4, 16, 0, rng);
  one<T>(9, 2, 4, 4, 0, rng);
  one<T>(1, 1, 64, 16, 0, rng);
  one<T>(17, 1, 64, 16, 0, rng);
  one<T>(100, 8, 128, 16, 0, rng);
  one<T>(5, 1, 3, 1, 0, rng);
  one<T>(33, 3, 6, 8, 0, rng);
  one<T>(21, 2, 130, 8, 0, rng);
  one<T>(40, 2, 64, 16, 5, rng);  // padding tokens (slot −1) are skipped
  // fp8 cache: one head and several (the scale of element e is head e/d's), odd head widths,
  // rows longer than the block, padding tokens.
  one_fp8<T>(9, 1, 8, 4, 0, rng);
  one_fp8<T>(37, 3, 5, 16, 0, rng);
  one_fp8<T>(100, 8, 128, 16, 0, rng);
  one_fp8<T>(40, 2, 64, 16, 5, rng);
  one_fp8<T>(16, 2, 32, 16, 0, rng, Fp8Case::Ties);
  one_fp8<T>(16, 2, 32, 16, 0, rng, Fp8Case::Saturating);
}

#if defined(HP_FP8_FNUZ)
// The fnuz build (the encoding of gfx94x): the fp8-cache kernels on a few shapes, each dtype,
// a tie and a saturation case.
EMU_TEST(kv_fnuz, seed) {
  std::mt19937_64 rng(seed);
  one_fp8<float>(37, 3, 5, 16, 0, rng);
  one_fp8<f16_t>(9, 1, 8, 4, 0, rng);
  one_fp8<bf16_t>(100, 8, 128, 16, 0, rng);
  one_fp8<bf16_t>(40, 2, 64, 16, 5, rng);
  one_fp8<bf16_t>(16, 2, 32, 16, 0, rng, Fp8Case::Ties);
  one_fp8<f16_t>(16, 2, 32, 16, 0, rng, Fp8Case::Saturating);
}
#else
EMU_TEST(kv, seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
#endif
