// gemv_w4a16.cu — decode GEMV on packed int4 weights, C[m,n] = A[m,k]·Ŵ[n,k]^T with
// Ŵ[r,e] = (q[r,e] − z[r,g])·scale[r,g], g = e / group; A, scales and C in T (f16, bf16),
// m = 1..16. Contract and packing: kernels/README.md (w[n][k/8] u32, nibble e of word j is
// q[r][8j+e]; zeros[n][⌈groups/8⌉] u32 the same way over groups; symmetric z = 8).
// One lane group of 32 per weight row (8 rows per block); every lane streams 16-byte vectors
// of the row (32 codes, inside one group since group is a multiple of 32; two vectors in
// flight), turns each code into q − z in f32 exactly (the code or-ed into the mantissa of
// 2^23, minus 2^23 + z), and multiplies with the same 32 elements of each activation row
// (cache-resident); each vector's sum is scaled once. Split-K over gridDim.y as gemv.cu, in
// whole vectors: scaled partial sums to a zeroed f32 workspace, hp_gemv_w4a16_finish rounds.
#include "hotpath_common.cuh"

#define HP_W4_THREADS 256
#define HP_W4_ROWS 8  // lane groups per block = weight rows per block

// The 32 codes of one vector as q − z floats.
__device__ __forceinline__ void hp_w4_codes(const uint4& w, float z, float (&q)[32]) {
  const unsigned* wd = reinterpret_cast<const unsigned*>(&w);
  const float bias = 8388608.f + z;
#pragma unroll
  for (int j = 0; j < 4; ++j)
#pragma unroll
    for (int e = 0; e < 8; ++e) q[8 * j + e] = __uint_as_float(0x4B000000u | ((wd[j] >> (4 * e)) & 15u)) - bias;
}

// Σ q[e]·x[e] over the 32 activations of T at x (four uint4 of 8).
template <typename T>
__device__ __forceinline__ float hp_w4_dot32(const float (&q)[32], const T* __restrict__ x) {
  float s = 0.f;
#pragma unroll
  for (int v = 0; v < 4; ++v) {
    const uint4 xv = __ldg(reinterpret_cast<const uint4*>(x) + v);
    const T* xe = reinterpret_cast<const T*>(&xv);
#pragma unroll
    for (int e = 0; e < 8; ++e) s = fmaf(q[8 * v + e], hp_to_float(xe[e]), s);
  }
  return s;
}

// acc[i] += scale·Σ (q − z)·a[i] over vector v (32 codes from k = 32v) of the row.
template <typename T, int M, bool ZP>
__device__ __forceinline__ void hp_w4_vector(const uint4& wv, int v, const T* __restrict__ a,
                                             const T* __restrict__ scales_row, const unsigned* __restrict__ zeros_row,
                                             int k, int group, float (&acc)[M]) {
  const int g = v * 32 / group;
  const float z = ZP ? (float)((__ldg(zeros_row + g / 8) >> (4 * (g % 8))) & 15u) : 8.f;
  const float scale = hp_to_float(scales_row[g]);
  float q[32];
  hp_w4_codes(wv, z, q);
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = fmaf(scale, hp_w4_dot32<T>(q, a + (long long)i * k + 32 * v), acc[i]);
}

template <typename T, int M, bool ZP>
__device__ __forceinline__ void hp_w4_rows(const T* __restrict__ a, const unsigned* __restrict__ w,
                                           const T* __restrict__ scales, const unsigned* __restrict__ zeros,
                                           T* __restrict__ c, float* __restrict__ ws, int n, int k, int group,
                                           int splits) {
  const int lg = threadIdx.x / HP_LANES, lane = threadIdx.x % HP_LANES;
  const int row = blockIdx.x * HP_W4_ROWS + lg;
  if (row >= n) return;  // no block-wide synchronisation follows
  const int vectors = k / 32, groups = k / group;
  const int vc = (vectors + splits - 1) / splits;
  const int v0 = blockIdx.y * vc;
  const int v1 = min(vectors, v0 + vc);
  const uint4* wr = reinterpret_cast<const uint4*>(w + (long long)row * (k / 8));
  const T* sr = scales + (long long)row * groups;
  const unsigned* zr = zeros + (ZP ? (long long)row * ((groups + 7) / 8) : 0);
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = 0.f;
  int v = v0 + lane;
  for (; v + HP_LANES < v1; v += 2 * HP_LANES) {
    const uint4 w0 = __ldg(wr + v);
    const uint4 w1 = __ldg(wr + v + HP_LANES);
    hp_w4_vector<T, M, ZP>(w0, v, a, sr, zr, k, group, acc);
    hp_w4_vector<T, M, ZP>(w1, v + HP_LANES, a, sr, zr, k, group, acc);
  }
  if (v < v1) hp_w4_vector<T, M, ZP>(__ldg(wr + v), v, a, sr, zr, k, group, acc);
#pragma unroll
  for (int i = 0; i < M; ++i) {
    const float s = hp_warp_sum(acc[i]);
    if (lane == 0) {
      if (splits == 1) {
        c[(long long)i * n + row] = hp_from_float<T>(s);
      } else {
        atomicAdd(ws + (long long)i * n + row, s);
      }
    }
  }
}

template <typename T, bool ZP>
__device__ __forceinline__ void hp_w4_dispatch(const T* a, const unsigned* w, const T* scales, const unsigned* zeros,
                                               T* c, float* ws, int m, int n, int k, int group, int splits) {
  switch (m) {
#define HP_CASE(M) \
  case M: hp_w4_rows<T, M, ZP>(a, w, scales, zeros, c, ws, n, k, group, splits); break;
    HP_CASE(1) HP_CASE(2) HP_CASE(3) HP_CASE(4) HP_CASE(5) HP_CASE(6) HP_CASE(7) HP_CASE(8)
    HP_CASE(9) HP_CASE(10) HP_CASE(11) HP_CASE(12) HP_CASE(13) HP_CASE(14) HP_CASE(15) HP_CASE(16)
#undef HP_CASE
    default: break;  // the launcher rejects m outside 1..16
  }
}

#define HP_GEMV_W4A16(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_W4_THREADS) \
  hp_gemv_w4a16_##SUFFIX(const T* __restrict__ a, const unsigned* __restrict__ w, const T* __restrict__ scales, \
                         const unsigned* __restrict__ zeros, T* __restrict__ c, float* __restrict__ ws, int m, int n, \
                         int k, int group, int zero_points, int splits) { \
    if (zero_points) { \
      hp_w4_dispatch<T, true>(a, w, scales, zeros, c, ws, m, n, k, group, splits); \
    } else { \
      hp_w4_dispatch<T, false>(a, w, scales, zeros, c, ws, m, n, k, group, splits); \
    } \
  } \
  extern "C" __global__ void __launch_bounds__(256) \
  hp_gemv_w4a16_finish_##SUFFIX(const float* __restrict__ ws, T* __restrict__ c, long long count) { \
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; \
    if (i < count) c[i] = hp_from_float<T>(ws[i]); \
  }
HP_GEMV_W4A16(f16, f16_t)
HP_GEMV_W4A16(bf16, bf16_t)
