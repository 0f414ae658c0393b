// add_rmsnorm.cu — fused residual add + RMSNorm, vLLM's fused_add_rms_norm. Contract:
// kernels/README.md. One block of 256 per token row t:
//   r = x[t] + residual[t], rounded to T        -> out[1][t]  (the updated residual)
//   y = r · rsqrt(Σ r² / hidden + eps) · weight -> out[0][t]
// The sum of squares is taken in f32 over the rounded r, as vLLM does. Rows whose length is
// a multiple of a 16-byte vector move as vectors, others element by element; the first
// HP_RN_KEEP vectors (or elements) of each thread stay in registers between the two passes,
// any beyond are read back from out[1] (this thread's own stores, L1/L2-resident).
#include "hotpath_common.cuh"

#define HP_RN_THREADS 256
#define HP_RN_KEEP 4

// The register type of one access: a uint4 of 16/sizeof(T) elements on the vector path, one T
// on the element path. Elements are read and written through a T* into it.
template <bool ONE, typename T> struct hp_rn_access { typedef T type; };
template <typename T> struct hp_rn_access<false, T> { typedef uint4 type; };

// A read-only input access: the vector path's 16 bytes in one load (__ldg), which element
// reads through a T* into the access would otherwise split into one load per element.
__device__ __forceinline__ uint4 hp_rn_load(const uint4* p) { return __ldg(p); }
template <typename T> __device__ __forceinline__ T hp_rn_load(const T* p) { return *p; }

// Block-wide sum; every thread gets the result. Needs blockDim.x == HP_RN_THREADS.
__device__ __forceinline__ float hp_rn_block_sum(float v) {
  __shared__ float group_sums[HP_RN_THREADS / HP_LANES];
  __shared__ float total[1];
  v = hp_warp_sum(v);
  const int group = threadIdx.x / HP_LANES, lane = threadIdx.x % HP_LANES;
  if (lane == 0) group_sums[group] = v;
  __syncthreads();
  if (group == 0) {
    float t = lane < HP_RN_THREADS / HP_LANES ? group_sums[lane] : 0.f;
    t = hp_warp_sum(t);
    if (lane == 0) total[0] = t;
  }
  __syncthreads();
  return total[0];
}

// r = x + res rounded to T, element by element; adds Σ r² (of the rounded values) to ss.
template <typename T, typename A>
__device__ __forceinline__ A hp_rn_add(const A x, const A res, float& ss) {
  constexpr int V = sizeof(A) / sizeof(T);
  const T* xe = reinterpret_cast<const T*>(&x);
  const T* be = reinterpret_cast<const T*>(&res);
  A r;
  T* re = reinterpret_cast<T*>(&r);
#pragma unroll
  for (int j = 0; j < V; ++j) {
    re[j] = hp_from_float<T>(hp_to_float(xe[j]) + hp_to_float(be[j]));
    const float f = hp_to_float(re[j]);
    ss = fmaf(f, f, ss);
  }
  return r;
}

// y = r · inv · w, rounded once to T.
template <typename T, typename A>
__device__ __forceinline__ A hp_rn_scale(const A r, const A w, float inv) {
  constexpr int V = sizeof(A) / sizeof(T);
  const T* re = reinterpret_cast<const T*>(&r);
  const T* we = reinterpret_cast<const T*>(&w);
  A y;
  T* ye = reinterpret_cast<T*>(&y);
#pragma unroll
  for (int j = 0; j < V; ++j) ye[j] = hp_from_float<T>(hp_to_float(re[j]) * inv * hp_to_float(we[j]));
  return y;
}

// One row of n accesses of A (hidden = n · sizeof(A)/sizeof(T)), every pointer aligned to A.
template <typename T, typename A>
__device__ __forceinline__ void hp_rn_row(const T* __restrict__ x, const T* __restrict__ res,
                                          const T* __restrict__ weight, T* __restrict__ y, T* __restrict__ r,
                                          int n, int hidden, float eps) {
  const A* xa = reinterpret_cast<const A*>(x);
  const A* ba = reinterpret_cast<const A*>(res);
  const A* wa = reinterpret_cast<const A*>(weight);
  A* ya = reinterpret_cast<A*>(y);
  A* ra = reinterpret_cast<A*>(r);
  // Pass 1: every load of the kept accesses issued before any is used, then r and Σ r².
  A kept[HP_RN_KEEP], other[HP_RN_KEEP];
  float ss = 0.f;
#pragma unroll
  for (int j = 0; j < HP_RN_KEEP; ++j) {
    const int i = threadIdx.x + j * HP_RN_THREADS;
    if (i < n) {
      kept[j] = hp_rn_load(xa + i);
      other[j] = hp_rn_load(ba + i);
    }
  }
#pragma unroll
  for (int j = 0; j < HP_RN_KEEP; ++j) {
    const int i = threadIdx.x + j * HP_RN_THREADS;
    if (i < n) {
      kept[j] = hp_rn_add<T>(kept[j], other[j], ss);
      ra[i] = kept[j];
    }
  }
  for (int i = threadIdx.x + HP_RN_KEEP * HP_RN_THREADS; i < n; i += HP_RN_THREADS) {
    ra[i] = hp_rn_add<T>(hp_rn_load(xa + i), hp_rn_load(ba + i), ss);
  }
  // Pass 2: y from the kept r, or from r read back.
  const float inv = rsqrtf(hp_rn_block_sum(ss) / (float)hidden + eps);
#pragma unroll
  for (int j = 0; j < HP_RN_KEEP; ++j) {
    const int i = threadIdx.x + j * HP_RN_THREADS;
    if (i < n) ya[i] = hp_rn_scale<T>(kept[j], hp_rn_load(wa + i), inv);
  }
  for (int i = threadIdx.x + HP_RN_KEEP * HP_RN_THREADS; i < n; i += HP_RN_THREADS) {
    const A back = ra[i];  // this thread's own store of pass 1
    ya[i] = hp_rn_scale<T>(back, hp_rn_load(wa + i), inv);
  }
}

// out is [2][tokens][hidden]: out[0] = y, out[1] = r.
template <typename T>
__device__ __forceinline__ void hp_add_rmsnorm_impl(const T* __restrict__ x, const T* __restrict__ residual,
                                                    const T* __restrict__ weight, T* __restrict__ out, int tokens,
                                                    int hidden, float eps) {
  const int t = blockIdx.x;
  if (t >= tokens) return;  // the whole block: no barrier is skipped by part of it
  constexpr int V = 16 / sizeof(T);
  const long long row = (long long)t * hidden;
  T* y = out + row;
  T* r = out + (long long)tokens * hidden + row;
  if (hidden % V == 0) {
    hp_rn_row<T, typename hp_rn_access<false, T>::type>(x + row, residual + row, weight, y, r, hidden / V, hidden, eps);
  } else {
    hp_rn_row<T, typename hp_rn_access<true, T>::type>(x + row, residual + row, weight, y, r, hidden, hidden, eps);
  }
}

#define HP_ADD_RMSNORM(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_RN_THREADS) \
  hp_add_rmsnorm_##SUFFIX(const T* __restrict__ x, const T* __restrict__ residual, const T* __restrict__ weight, \
                          T* __restrict__ out, int tokens, int hidden, float eps) { \
    hp_add_rmsnorm_impl<T>(x, residual, weight, out, tokens, hidden, eps); \
  }
HP_ADD_RMSNORM(f32, float)
HP_ADD_RMSNORM(f16, f16_t)
HP_ADD_RMSNORM(bf16, bf16_t)
