// stream.cu — the bandwidth ceilings (copy, write, read, triad) and the empty kernel.
// Contract: kernels/README.md. Grid-stride loops; 16-byte vectors; four independent
// vectors in flight per thread per iteration so enough bytes are outstanding per SM.
#include "hotpath_common.cuh"

#define HP_STREAM_THREADS 256
#define HP_UNROLL 4

// b[i] = a[i] over n_vec 16-byte vectors (dtype-agnostic).
extern "C" __global__ void __launch_bounds__(HP_STREAM_THREADS)
hp_copy(const uint4* __restrict__ a, uint4* __restrict__ b, long long n_vec) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  for (; i + (HP_UNROLL - 1) * stride < n_vec; i += HP_UNROLL * stride) {
    uint4 v[HP_UNROLL];
#pragma unroll
    for (int u = 0; u < HP_UNROLL; ++u) v[u] = a[i + u * stride];
#pragma unroll
    for (int u = 0; u < HP_UNROLL; ++u) b[i + u * stride] = v[u];
  }
  for (; i < n_vec; i += stride) b[i] = a[i];
}

// a[i] = pattern over n_vec 16-byte vectors (the value replicated in the dtype by the host).
extern "C" __global__ void __launch_bounds__(HP_STREAM_THREADS)
hp_write(uint4* __restrict__ a, long long n_vec, uint4 pattern) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n_vec; i += stride) a[i] = pattern;
}

// Sum of 16 bytes of T, widened to f32.
template <typename T> __device__ __forceinline__ float hp_sum16(uint4 v) {
  const T* e = reinterpret_cast<const T*>(&v);
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < (int)(16 / sizeof(T)); ++j) s += hp_to_float(e[j]);
  return s;
}

// Block-wide sum; every thread gets the result. Needs blockDim.x == HP_STREAM_THREADS.
__device__ __forceinline__ float hp_block_sum(float v) {
  __shared__ float warp_sums[HP_STREAM_THREADS / 32];
  v = hp_warp_sum(v);
  const int warp = threadIdx.x / HP_WARP, lane = threadIdx.x % HP_WARP;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  float t = 0.f;
  if (threadIdx.x < HP_STREAM_THREADS / HP_WARP) t = warp_sums[threadIdx.x];
  if (warp == 0) t = hp_warp_sum(t);
  return t;
}

// partials[blockIdx.x] = sum of this block's share of a[0..n).
template <typename T>
__device__ __forceinline__ void hp_read_impl(const T* __restrict__ a, long long n, float* __restrict__ partials) {
  constexpr int per_vec = 16 / sizeof(T);
  const long long n_vec = n / per_vec;
  const uint4* av = reinterpret_cast<const uint4*>(a);
  const long long stride = (long long)gridDim.x * blockDim.x;
  float s[HP_UNROLL] = {0.f, 0.f, 0.f, 0.f};
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  for (; i + (HP_UNROLL - 1) * stride < n_vec; i += HP_UNROLL * stride) {
    uint4 v[HP_UNROLL];
#pragma unroll
    for (int u = 0; u < HP_UNROLL; ++u) v[u] = av[i + u * stride];
#pragma unroll
    for (int u = 0; u < HP_UNROLL; ++u) s[u] += hp_sum16<T>(v[u]);
  }
  for (; i < n_vec; i += stride) s[0] += hp_sum16<T>(av[i]);
  // Tail elements past the last whole vector: block 0 takes them.
  if (blockIdx.x == 0) {
    for (long long j = n_vec * per_vec + threadIdx.x; j < n; j += blockDim.x) s[1] += hp_to_float(a[j]);
  }
  const float total = hp_block_sum((s[0] + s[1]) + (s[2] + s[3]));
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

#define HP_READ(NAME, T) \
  extern "C" __global__ void __launch_bounds__(HP_STREAM_THREADS) \
  NAME(const T* __restrict__ a, long long n, float* __restrict__ partials) { hp_read_impl<T>(a, n, partials); }
HP_READ(hp_read_f32, float)
HP_READ(hp_read_f16, f16_t)
HP_READ(hp_read_bf16, bf16_t)

// out[0] = sum of partials[0..count), one block of 256.
extern "C" __global__ void __launch_bounds__(HP_STREAM_THREADS)
hp_reduce_partials(const float* __restrict__ partials, int count, float* __restrict__ out) {
  float s = 0.f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partials[i];
  s = hp_block_sum(s);
  if (threadIdx.x == 0) out[0] = s;
}

// l2_read: one launch measures the last-level cache. Every block reads its grid-stride share
// of `a` (an array that fits the cache) `passes` times with L2-only loads and writes its sum
// to partials[block]; the last block to arrive (arrival counter, zero before the first
// launch) sums the partials into out[0] and resets the counter for the next launch. So
// out[0] = passes · Σa, and the whole measurement is one launch long enough that launch
// overhead is noise.
template <typename T>
__device__ __forceinline__ void hp_l2_read_impl(const T* __restrict__ a, long long n, int passes,
                                                float* __restrict__ partials, unsigned* __restrict__ arrived,
                                                float* __restrict__ out) {
  constexpr int per_vec = 16 / sizeof(T);
  const long long n_vec = n / per_vec;
  const uint4* av = reinterpret_cast<const uint4*>(a);
  const long long stride = (long long)gridDim.x * blockDim.x;
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  float s[HP_UNROLL] = {0.f, 0.f, 0.f, 0.f};
  for (int p = 0; p < passes; ++p) {
    long long i = first;
    for (; i + (HP_UNROLL - 1) * stride < n_vec; i += HP_UNROLL * stride) {
      uint4 v[HP_UNROLL];
#pragma unroll
      for (int u = 0; u < HP_UNROLL; ++u) v[u] = hp_ld_l2(av + i + u * stride);
#pragma unroll
      for (int u = 0; u < HP_UNROLL; ++u) s[u] += hp_sum16<T>(v[u]);
    }
    for (; i < n_vec; i += stride) s[0] += hp_sum16<T>(hp_ld_l2(av + i));
    if (blockIdx.x == 0) {
      for (long long j = n_vec * per_vec + threadIdx.x; j < n; j += blockDim.x) s[1] += hp_to_float(a[j]);
    }
  }
  const float total = hp_block_sum((s[0] + s[1]) + (s[2] + s[3]));
  __shared__ unsigned last[1];
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = total;
    __threadfence();  // the partial is visible before the arrival is counted
    last[0] = atomicAdd(arrived, 1u) == gridDim.x - 1 ? 1u : 0u;
  }
  __syncthreads();
  if (last[0]) {
    __threadfence();
    float t = 0.f;
    for (int b = threadIdx.x; b < (int)gridDim.x; b += blockDim.x) t += hp_ld_l2(partials + b);
    t = hp_block_sum(t);
    if (threadIdx.x == 0) {
      out[0] = t;
      *arrived = 0u;
    }
  }
}

#define HP_L2_READ(NAME, T) \
  extern "C" __global__ void __launch_bounds__(HP_STREAM_THREADS) \
  NAME(const T* __restrict__ a, long long n, int passes, float* __restrict__ partials, \
       unsigned* __restrict__ arrived, float* __restrict__ out) { \
    hp_l2_read_impl<T>(a, n, passes, partials, arrived, out); \
  }
HP_L2_READ(hp_l2_read_f32, float)
HP_L2_READ(hp_l2_read_f16, f16_t)
HP_L2_READ(hp_l2_read_bf16, bf16_t)

// a = b + q*c over n elements; 16-byte vectors, scalar tail.
template <typename T>
__device__ __forceinline__ void hp_triad_impl(T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ c,
                                              long long n, float q) {
  constexpr int per_vec = 16 / sizeof(T);
  const long long n_vec = n / per_vec;
  const long long stride = (long long)gridDim.x * blockDim.x;
  const uint4* bv = reinterpret_cast<const uint4*>(b);
  const uint4* cv = reinterpret_cast<const uint4*>(c);
  uint4* avec = reinterpret_cast<uint4*>(a);
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n_vec; i += stride) {
    uint4 x = bv[i], y = cv[i], z;
    const T* xe = reinterpret_cast<const T*>(&x);
    const T* ye = reinterpret_cast<const T*>(&y);
    T* ze = reinterpret_cast<T*>(&z);
#pragma unroll
    for (int j = 0; j < per_vec; ++j) ze[j] = hp_from_float<T>(hp_to_float(xe[j]) + q * hp_to_float(ye[j]));
    avec[i] = z;
  }
  if (blockIdx.x == 0) {
    for (long long j = n_vec * per_vec + threadIdx.x; j < n; j += blockDim.x)
      a[j] = hp_from_float<T>(hp_to_float(b[j]) + q * hp_to_float(c[j]));
  }
}

#define HP_TRIAD(NAME, T) \
  extern "C" __global__ void __launch_bounds__(HP_STREAM_THREADS) \
  NAME(T* __restrict__ a, const T* __restrict__ b, const T* __restrict__ c, long long n, float q) { \
    hp_triad_impl<T>(a, b, c, n, q); \
  }
HP_TRIAD(hp_triad_f32, float)
HP_TRIAD(hp_triad_f16, f16_t)
HP_TRIAD(hp_triad_bf16, bf16_t)

// Launch overhead: does nothing, 32 threads per block.
extern "C" __global__ void __launch_bounds__(32) hp_empty() {}
