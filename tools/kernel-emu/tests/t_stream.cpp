// stream.cu: hp_copy, hp_write, hp_read_* + hp_reduce_partials, hp_triad_*, hp_empty.
#include "common.h"
#include "gen/stream.cu"
using namespace emu_test;
using namespace emu_stream;

static const float WRITE_VALUE = 1.25f, TRIAD_SCALAR = 0.5f;  // crates/core/src/inputs.rs

template <typename T> static auto read_kernel() {
  if constexpr (std::is_same_v<T, float>) return &hp_read_f32;
  else if constexpr (std::is_same_v<T, f16_t>) return &hp_read_f16;
  else return &hp_read_bf16;
}
template <typename T> static auto triad_kernel() {
  if constexpr (std::is_same_v<T, float>) return &hp_triad_f32;
  else if constexpr (std::is_same_v<T, f16_t>) return &hp_triad_f16;
  else return &hp_triad_bf16;
}

template <typename T> static void one(long long n, unsigned sms, std::mt19937_64& rng) {
  const std::string shape = fmt("%s n=%lld sms=%u", dname<T>(), n, sms);
  const unsigned long long bytes = n * sizeof(T);
  const long long n_vec = (long long)vectors16(bytes);
  {  // copy: b[i] = a[i] over ⌈bytes/16⌉ vectors
    Arena ar;
    auto a = uniform<T>(n, rng);
    T* da = ar.upload(a);
    T* db = ar.alloc<T>(n, 0xff);
    emu_launch(hp_copy, geo_stream(n_vec, sms), threads(256), (const uint4*)da, (uint4*)db, n_vec);
    std::vector<double> ref(n);
    for (long long i = 0; i < n; ++i) ref[i] = f64(a[i]);
    check(std::string("copy ") + dname<T>(), shape, db, ref);
  }
  {  // write: every element = WRITE_VALUE; the host replicates the value in the dtype
    Arena ar;
    T* da = ar.alloc<T>(n, 0xff);
    uint4 pattern;
    T* pe = (T*)&pattern;
    for (int j = 0; j < (int)(16 / sizeof(T)); ++j) pe[j] = hp_from_float<T>(WRITE_VALUE);
    emu_launch(hp_write, geo_stream(n_vec, sms), threads(256), (uint4*)da, n_vec, pattern);
    check(std::string("write ") + dname<T>(), shape, da, std::vector<double>(n, WRITE_VALUE));
  }
  {  // read: a in [0,1); partials per block, then one block sums them
    Arena ar;
    auto a = uniform<T>(n, rng, 0.f, 1.f);
    T* da = ar.upload(a);
    const emu_dim3 g = geo_read(n, sizeof(T), sms);
    float* partials = ar.alloc<float>(g.x, 0x00);  // the launcher zeroes it once
    float* out = ar.alloc<float>(1, 0xff);
    emu_launch_named("hp_read", g, threads(256), read_kernel<T>(), (const T*)da, n, partials);
    emu_launch(hp_reduce_partials, grid1(1), threads(256), (const float*)partials, (int)g.x, out);
    double s = 0;
    for (long long i = 0; i < n; ++i) s += f64(a[i]);
    check(std::string("read ") + dname<T>(), shape + fmt(" blocks=%u", g.x), out, std::vector<double>{s}, 1e-8);
  }
  {  // triad: a = b + q·c, grid over elements
    Arena ar;
    auto b = uniform<T>(n, rng), c = uniform<T>(n, rng);
    T* db = ar.upload(b);
    T* dc = ar.upload(c);
    T* da = ar.alloc<T>(n, 0xff);
    emu_launch_named("hp_triad", geo_stream(n, sms), threads(256), triad_kernel<T>(), da, (const T*)db, (const T*)dc, n,
                     TRIAD_SCALAR);
    std::vector<double> ref(n);
    for (long long i = 0; i < n; ++i) ref[i] = f64(b[i]) + (double)TRIAD_SCALAR * f64(c[i]);
    check(std::string("triad ") + dname<T>(), shape, da, ref);
  }
}

void test_stream(uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Tails: n not a multiple of the 4 (f32) or 8 (f16/bf16) elements of a vector; one block
  // (sms=132) and a capped grid (sms=1: 8 blocks) where the unrolled grid-stride loop runs.
  for (long long n : {1LL, 3LL, 7LL, 9LL, 1000LL, 4099LL, 12345LL, 70001LL}) {
    one<float>(n, H100_SMS, rng);
    one<f16_t>(n, H100_SMS, rng);
    one<bf16_t>(n, H100_SMS, rng);
  }
  for (long long n : {65537LL, 200003LL}) {
    one<float>(n, 1, rng);
    one<f16_t>(n, 1, rng);
    one<bf16_t>(n, 1, rng);
  }
  emu_launch0(hp_empty, grid1(3), threads(32));  // the launch ceiling: `blocks` × 32
  record("empty", "3x32", true, 0);
}
