// gemv.cu: hp_gemv_* (one warp per weight row, split-K with atomicAdd into ws) and
// hp_gemv_finish_*.
#include "common.h"
#include "gen/gemv.cu"
using namespace emu_test;
using namespace emu_gemv;

template <typename T> static auto gemv_kernel() {
  if constexpr (std::is_same_v<T, float>) return &hp_gemv_f32;
  else if constexpr (std::is_same_v<T, f16_t>) return &hp_gemv_f16;
  else return &hp_gemv_bf16;
}
template <typename T> static auto finish_kernel() {
  if constexpr (std::is_same_v<T, float>) return &hp_gemv_finish_f32;
  else if constexpr (std::is_same_v<T, f16_t>) return &hp_gemv_finish_f16;
  else return &hp_gemv_finish_bf16;
}

// splits = 0: the launcher's choice, launch::gemv_splits(n, k, 132).
template <typename T> static void one(int m, int n, int k, int forced_splits, std::mt19937_64& rng) {
  const int splits = forced_splits ? forced_splits : (int)gemv_splits(n, k, H100_SMS);
  const int kc = (int)(div_ceil(div_ceil(k, splits), 8) * 8);
  const int empty = splits - (int)div_ceil(k, kc);
  const std::string shape = fmt("%s m=%d n=%d k=%d splits=%d%s%s", dname<T>(), m, n, k, splits,
                                forced_splits ? " (forced)" : "", empty > 0 ? fmt(" empty_splits=%d", empty).c_str() : "");
  Arena ar;
  auto a = uniform<T>((size_t)m * k, rng), w = uniform<T>((size_t)n * k, rng);
  T* da = ar.upload(a);
  T* dw = ar.upload(w);
  T* dc = ar.alloc<T>((size_t)m * n, 0xff);
  float* ws = ar.alloc<float>((size_t)m * n, 0x00);  // zeroed by the launcher before a split launch
  emu_launch_named("hp_gemv", geo_gemv(n, splits), threads(256), gemv_kernel<T>(), (const T*)da, (const T*)dw, dc, ws, m,
                   n, k, splits);
  if (splits > 1) {
    const long long count = (long long)m * n;
    emu_launch_named("hp_gemv_finish", geo_elementwise(count), threads(256), finish_kernel<T>(), (const float*)ws, dc,
                     count);
  }
  std::vector<double> ref((size_t)m * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int kk = 0; kk < k; ++kk) s += f64(a[(size_t)i * k + kk]) * f64(w[(size_t)j * k + kk]);
      ref[(size_t)i * n + j] = s;
    }
  check(std::string("gemv ") + dname<T>(), shape, dc, ref);
}

template <typename T> static void all(std::mt19937_64& rng) {
  for (int m : {1, 3, 8, 16}) {
    one<T>(m, 1, 8, 0, rng);        // smallest: one row, one vector (f16) / two (f32)
    one<T>(m, 13, 40, 0, rng);      // n % 8 != 0: a partly idle block; k % 256 != 0
    one<T>(m, 13, 40, 3, rng);      // forced split-K: kc = 16 → 16, 16, 8
    one<T>(m, 5, 40, 8, rng);       // kc = 8 → 5 splits with work, 3 empty
    one<T>(m, 21, 4104, 0, rng);    // launcher: 8 splits (kc = 520; last split shorter)
  }
  for (int m : {1, 3}) {
    one<T>(m, 77, 264, 0, rng);     // launcher: 1 split (k < 1024)
    one<T>(m, 250, 1544, 0, rng);   // launcher: 3 splits
    one<T>(m, 1001, 2056, 0, rng);  // launcher: 4 splits, 126 row blocks
  }
  one<T>(16, 301, 776, 0, rng);     // m = 16 with 1 split over many rows
  for (int m = 1; m <= 16; ++m) one<T>(m, 11, 72, m % 4 + 1, rng);  // every M instantiation
}

void test_gemv(uint64_t seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
