// gemv_w4a16.cu: hp_gemv_w4a16_* (one lane group per packed int4 weight row, group scales,
// optional zero points, split-K with atomicAdd into ws) and hp_gemv_w4a16_finish_*, launched
// from core's plans.
#include "common.h"
#include "gen/gemv_w4a16.cu"
using namespace emu_test;
using namespace emu_gemv_w4a16;

EMU_KERNEL(hp_gemv_w4a16_f16);
EMU_KERNEL(hp_gemv_w4a16_bf16);
EMU_KERNEL(hp_gemv_w4a16_finish_f16);
EMU_KERNEL(hp_gemv_w4a16_finish_bf16);

// Code e of a row of packed words, through its byte (a different path from the kernel's
// shifts of whole words): byte e/2 of the little-endian row, low nibble for even e.
static unsigned nibble(const std::vector<unsigned>& words, size_t first_word, size_t e) {
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(words.data() + first_word);
  const unsigned char b = bytes[e / 2];
  return e % 2 ? b >> 4 : b & 15u;
}

static std::vector<unsigned> words(size_t n, std::mt19937_64& rng) {
  std::vector<unsigned> v(n);
  for (auto& w : v) w = (unsigned)rng();
  return v;
}

// `want` is the split count the case is there for (core's launch::gemv_splits through `sms`).
template <typename T>
static void one(int m, int n, int k, int group, bool zp, unsigned sms, unsigned want, std::mt19937_64& rng) {
  const EmuPlan* p = emu_plan(fmt("gemv_w4a16 m=%d,n=%d,k=%d,group=%d,zero_points=%d %s units=%u", m, n, k, group,
                                  zp ? 1 : 0, dname<T>(), sms));
  if (!p) return;
  const std::string grp = std::string("gemv_w4a16 ") + dname<T>();
  unsigned splits = 0;
  for (const EmuPlanStep& s : p->steps)
    if (s.function.rfind("hp_gemv_w4a16_", 0) == 0 && s.function.find("finish") == std::string::npos) splits = s.grid.y;
  const std::string shape =
      fmt("%s m=%d n=%d k=%d group=%d%s sms=%u splits=%u", dname<T>(), m, n, k, group, zp ? " zp" : "", sms, splits);
  if (splits != want)
    return record(grp, shape, false, INFINITY, fmt("the case is for %u splits: pick its sms again", want));
  const int groups = k / group, zw = (groups + 7) / 8;
  Arena ar;
  auto a = uniform<T>((size_t)m * k, rng);
  auto w = words((size_t)n * k / 8, rng);
  auto scales = uniform<T>((size_t)n * groups, rng, 0.05f, 0.15f);
  auto zeros = zp ? words((size_t)n * zw, rng) : std::vector<unsigned>{0x88888888u};
  EmuRun run;
  emu_run(*p, {{"a", ar.upload(a)}, {"w", ar.upload(w)}, {"scales", ar.upload(scales)}, {"zeros", ar.upload(zeros)}},
          run);
  std::vector<double> ref((size_t)m * n);
  for (int j = 0; j < n; ++j) {
    std::vector<double> wrow(k);
    for (int e = 0; e < k; ++e) {
      const int g = e / group;
      const double z = zp ? nibble(zeros, (size_t)j * zw, g) : 8.0;
      wrow[e] = ((double)nibble(w, (size_t)j * k / 8, e) - z) * f64(scales[(size_t)j * groups + g]);
    }
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int e = 0; e < k; ++e) s += f64(a[(size_t)i * k + e]) * wrow[e];
      ref[(size_t)i * n + j] = s;
    }
  }
  check(grp, shape, (const T*)run.outputs[p->check_index], ref);
}

template <typename T> static void all(std::mt19937_64& rng) {
  for (bool zp : {false, true}) {
    for (int m : {1, 4, 16}) {
      one<T>(m, 1, 32, 32, zp, H100_SMS, 1, rng);       // one row, one vector, one group
      one<T>(m, 13, 96, 32, zp, H100_SMS, 1, rng);      // n % 8 != 0; 3 groups of 32
      one<T>(m, 13, 1568, 32, zp, 2, 3, rng);           // 49 vectors in 3 splits: 17, 17, 15
      one<T>(m, 21, 4224, 128, zp, H100_SMS, 8, rng);   // 132 vectors, splits of 17 cut groups of 4
    }
    one<T>(2, 301, 1152, 64, zp, H100_SMS, 2, rng);     // 18 groups: 3 words of zero points, the last partial
    one<T>(1, 9, 4096, 128, zp, 1, 2, rng);             // 1 SM: 2 splits of 64 vectors, two in flight per lane
  }
  // Every M instantiation, both forms, with 1 and 2 splits.
  for (int m = 1; m <= 16; ++m)
    one<T>(m, 11, m % 2 ? 1024 : 64, m % 4 < 2 ? 64 : 32, m % 3 == 0, m % 2 ? 1 : H100_SMS, m % 2 ? 2 : 1, rng);
}

EMU_TEST(gemv_w4a16, seed) {
  std::mt19937_64 rng(seed);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
