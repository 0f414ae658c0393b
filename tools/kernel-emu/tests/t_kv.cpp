// kv.cu: hp_kv_write_* (scatter by slot_mapping) and hp_kv_read_* (gather by block_table),
// launched from core's plans.
#include "common.h"
#include "gen/kv.cu"
using namespace emu_test;
using namespace emu_kv;

EMU_KERNEL(hp_kv_write_f32);
EMU_KERNEL(hp_kv_write_f16);
EMU_KERNEL(hp_kv_write_bf16);
EMU_KERNEL(hp_kv_read_f32);
EMU_KERNEL(hp_kv_read_f16);
EMU_KERNEL(hp_kv_read_bf16);

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
}

EMU_TEST(kv, seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
