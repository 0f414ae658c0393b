// gemv_fp8w.cu — decode GEMV on fp8 weights, C[m,n] = (A[m,k]·W[n,k]^T)·w_scale[n], W in fp8
// e4m3 of the device's encoding (OCP; e4m3fnuz on gfx94x, see hotpath_common.cuh) with one f32
// scale per output row, A and C in T (f16, bf16), m = 1..16. Contract: kernels/README.md. One
// lane group of 32 per weight row (8 rows per block); every lane streams 16-byte vectors of
// the row (16 codes, two vectors in flight), decodes each code
// exactly (hp_fp8_e4m3_to_float) and multiplies it with the same 16 elements of each of the m
// activation rows (cache-resident); the group reduces and scales once. Split-K over gridDim.y
// as gemv.cu: scaled partial sums go to a zeroed f32 workspace with atomicAdd and
// hp_gemv_fp8w_finish rounds them.
#include "hotpath_common.cuh"

#define HP_FP8W_THREADS 256
#define HP_FP8W_ROWS 8  // lane groups per block = weight rows per block

// Σ of 16 decoded codes (one uint4) times 16 activations of T at x (two uint4 of 8).
template <typename T>
__device__ __forceinline__ float hp_fp8w_dot16(const uint4& w, const T* __restrict__ x) {
  const uint4 x0 = __ldg(reinterpret_cast<const uint4*>(x));
  const uint4 x1 = __ldg(reinterpret_cast<const uint4*>(x) + 1);
  const T* xe0 = reinterpret_cast<const T*>(&x0);
  const T* xe1 = reinterpret_cast<const T*>(&x1);
  const unsigned* wd = reinterpret_cast<const unsigned*>(&w);
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < 8; ++j) s = fmaf(hp_fp8_e4m3_to_float(wd[j / 4] >> (8 * (j % 4))), hp_to_float(xe0[j]), s);
#pragma unroll
  for (int j = 0; j < 8; ++j) s = fmaf(hp_fp8_e4m3_to_float(wd[2 + j / 4] >> (8 * (j % 4))), hp_to_float(xe1[j]), s);
  return s;
}

template <typename T, int M>
__device__ __forceinline__ void hp_fp8w_rows(const T* __restrict__ a, const unsigned char* __restrict__ w,
                                             const float* __restrict__ w_scale, T* __restrict__ c,
                                             float* __restrict__ ws, int n, int k, int splits) {
  const int group = threadIdx.x / HP_LANES, lane = threadIdx.x % HP_LANES;
  const int row = blockIdx.x * HP_FP8W_ROWS + group;
  if (row >= n) return;  // no block-wide synchronisation follows
  const int kc = ((k + splits - 1) / splits + 15) / 16 * 16;
  const int k0 = blockIdx.y * kc;
  const int k1 = min(k, k0 + kc);
  const unsigned char* wr = w + (long long)row * k;
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = 0.f;
  int kk = k0 + lane * 16;
  for (; kk + HP_LANES * 16 < k1; kk += 2 * HP_LANES * 16) {
    const uint4 w0 = __ldg(reinterpret_cast<const uint4*>(wr + kk));
    const uint4 w1 = __ldg(reinterpret_cast<const uint4*>(wr + kk + HP_LANES * 16));
#pragma unroll
    for (int i = 0; i < M; ++i) {
      const T* x = a + (long long)i * k + kk;
      acc[i] += hp_fp8w_dot16<T>(w0, x) + hp_fp8w_dot16<T>(w1, x + HP_LANES * 16);
    }
  }
  if (kk < k1) {
    const uint4 w0 = __ldg(reinterpret_cast<const uint4*>(wr + kk));
#pragma unroll
    for (int i = 0; i < M; ++i) acc[i] += hp_fp8w_dot16<T>(w0, a + (long long)i * k + kk);
  }
  const float scale = w_scale[row];
#pragma unroll
  for (int i = 0; i < M; ++i) {
    const float s = hp_warp_sum(acc[i]) * scale;
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
__device__ __forceinline__ void hp_fp8w_dispatch(const T* a, const unsigned char* w, const float* w_scale, T* c,
                                                 float* ws, int m, int n, int k, int splits) {
  switch (m) {
#define HP_CASE(M) \
  case M: hp_fp8w_rows<T, M>(a, w, w_scale, c, ws, n, k, splits); break;
    HP_CASE(1) HP_CASE(2) HP_CASE(3) HP_CASE(4) HP_CASE(5) HP_CASE(6) HP_CASE(7) HP_CASE(8)
    HP_CASE(9) HP_CASE(10) HP_CASE(11) HP_CASE(12) HP_CASE(13) HP_CASE(14) HP_CASE(15) HP_CASE(16)
#undef HP_CASE
    default: break;  // the launcher rejects m outside 1..16
  }
}

#define HP_GEMV_FP8W(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_FP8W_THREADS) \
  hp_gemv_fp8w_##SUFFIX(const T* __restrict__ a, const unsigned char* __restrict__ w, \
                        const float* __restrict__ w_scale, T* __restrict__ c, float* __restrict__ ws, int m, int n, \
                        int k, int splits) { \
    hp_fp8w_dispatch<T>(a, w, w_scale, c, ws, m, n, k, splits); \
  } \
  extern "C" __global__ void __launch_bounds__(256) \
  hp_gemv_fp8w_finish_##SUFFIX(const float* __restrict__ ws, T* __restrict__ c, long long count) { \
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; \
    if (i < count) c[i] = hp_from_float<T>(ws[i]); \
  }
HP_GEMV_FP8W(f16, f16_t)
HP_GEMV_FP8W(bf16, bf16_t)
