// gemv.cu — decode GEMV C[m,n] = A[m,k]·W[n,k]^T for m = 1..16. Contract: kernels/README.md.
// One warp per weight row; every lane streams 16-byte vectors of the row (two in flight),
// multiplies them with the same slice of each of the m activation rows (cache-resident),
// and the warp reduces. Split-K over gridDim.y when rows are too few to fill the GPU:
// partial sums go to a zeroed f32 workspace with atomicAdd and hp_gemv_finish rounds them.
#include "hotpath_common.cuh"

#define HP_GEMV_THREADS 256
#define HP_GEMV_ROWS 8  // warps per block = weight rows per block

template <typename T, int M>
__device__ __forceinline__ void hp_gemv_rows(const T* __restrict__ a, const T* __restrict__ w, T* __restrict__ c,
                                             float* __restrict__ ws, int n, int k, int splits) {
  constexpr int E = 16 / sizeof(T);  // elements per 16-byte vector
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * HP_GEMV_ROWS + warp;
  if (row >= n) return;  // no block-wide synchronisation follows
  const int kc = ((k + splits - 1) / splits + 7) / 8 * 8;
  const int k0 = blockIdx.y * kc;
  const int k1 = min(k, k0 + kc);
  const T* wr = w + (long long)row * k;
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = 0.f;
  int kk = k0 + lane * E;
  // Two weight vectors in flight per lane per step.
  for (; kk + 32 * E < k1; kk += 64 * E) {
    const uint4 w0 = __ldg(reinterpret_cast<const uint4*>(wr + kk));
    const uint4 w1 = __ldg(reinterpret_cast<const uint4*>(wr + kk + 32 * E));
#pragma unroll
    for (int i = 0; i < M; ++i) {
      const uint4 x0 = __ldg(reinterpret_cast<const uint4*>(a + (long long)i * k + kk));
      const uint4 x1 = __ldg(reinterpret_cast<const uint4*>(a + (long long)i * k + kk + 32 * E));
      acc[i] += hp_dot16<T>(w0, x0) + hp_dot16<T>(w1, x1);
    }
  }
  if (kk < k1) {
    const uint4 w0 = __ldg(reinterpret_cast<const uint4*>(wr + kk));
#pragma unroll
    for (int i = 0; i < M; ++i) {
      const uint4 x0 = __ldg(reinterpret_cast<const uint4*>(a + (long long)i * k + kk));
      acc[i] += hp_dot16<T>(w0, x0);
    }
  }
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

template <typename T>
__device__ __forceinline__ void hp_gemv_dispatch(const T* a, const T* w, T* c, float* ws, int m, int n, int k,
                                                 int splits) {
  switch (m) {
#define HP_CASE(M) \
  case M: hp_gemv_rows<T, M>(a, w, c, ws, n, k, splits); break;
    HP_CASE(1) HP_CASE(2) HP_CASE(3) HP_CASE(4) HP_CASE(5) HP_CASE(6) HP_CASE(7) HP_CASE(8)
    HP_CASE(9) HP_CASE(10) HP_CASE(11) HP_CASE(12) HP_CASE(13) HP_CASE(14) HP_CASE(15) HP_CASE(16)
#undef HP_CASE
    default: break;  // the launcher rejects m outside 1..16
  }
}

template <typename T>
__device__ __forceinline__ void hp_gemv_finish_impl(const float* __restrict__ ws, T* __restrict__ c, long long count) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) c[i] = hp_from_float<T>(ws[i]);
}

#define HP_GEMV(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_GEMV_THREADS) \
  hp_gemv_##SUFFIX(const T* __restrict__ a, const T* __restrict__ w, T* __restrict__ c, float* __restrict__ ws, \
                   int m, int n, int k, int splits) { \
    hp_gemv_dispatch<T>(a, w, c, ws, m, n, k, splits); \
  } \
  extern "C" __global__ void __launch_bounds__(256) \
  hp_gemv_finish_##SUFFIX(const float* __restrict__ ws, T* __restrict__ c, long long count) { \
    hp_gemv_finish_impl<T>(ws, c, count); \
  }
HP_GEMV(f32, float)
HP_GEMV(f16, f16_t)
HP_GEMV(bf16, bf16_t)
