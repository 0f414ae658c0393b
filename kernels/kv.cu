// kv.cu — paged KV-cache scatter (kv_write) and gather (kv_read). Contract: kernels/README.md.
// One block of 128 threads per token; rows of row = heads_kv*head_dim elements are moved as
// 16-byte vectors when the row size allows, else element by element. The *_fp8kv kernels
// keep the cache in fp8 e4m3 of the device's encoding (OCP; e4m3fnuz on gfx94x, see
// hotpath_common.cuh) with one f32 scale per KV head (element i of a row belongs
// to head i / head_dim): the write quantizes, code = e4m3(x·(1/scale)); the read
// dequantizes, code·scale, into T.
#include "hotpath_common.cuh"

#define HP_KV_THREADS 128

template <typename T>
__device__ __forceinline__ void hp_copy_row(const T* __restrict__ src, T* __restrict__ dst, int row) {
  if ((row * (int)sizeof(T)) % 16 == 0) {
    const uint4* s = reinterpret_cast<const uint4*>(src);
    uint4* d = reinterpret_cast<uint4*>(dst);
    const int n = row * (int)sizeof(T) / 16;
    for (int i = threadIdx.x; i < n; i += blockDim.x) d[i] = s[i];
  } else {
    for (int i = threadIdx.x; i < row; i += blockDim.x) dst[i] = src[i];
  }
}

// kv_cache[0][slot_mapping[t]] = k[t]; kv_cache[1][slot_mapping[t]] = v[t]; kv_cache is [2][slots][row].
template <typename T>
__device__ __forceinline__ void hp_kv_write_impl(const T* __restrict__ k, const T* __restrict__ v,
                                                 const int* __restrict__ slot_mapping, T* __restrict__ kv_cache,
                                                 int tokens, int row, long long slots) {
  const int t = blockIdx.x;
  if (t >= tokens) return;
  const long long slot = slot_mapping[t];
  if (slot < 0 || slot >= slots) return;  // padding tokens (slot -1) are skipped, as in vLLM
  hp_copy_row(k + (long long)t * row, kv_cache + slot * row, row);
  hp_copy_row(v + (long long)t * row, kv_cache + (slots + slot) * row, row);
}

// kv[0][t] = k_cache[slot(t)]; kv[1][t] = v_cache[slot(t)]; slot(t) = block_table[t/ps]*ps + t%ps.
template <typename T>
__device__ __forceinline__ void hp_kv_read_impl(const T* __restrict__ k_cache, const T* __restrict__ v_cache,
                                                const int* __restrict__ block_table, T* __restrict__ kv,
                                                int tokens, int row, int page_size) {
  const int t = blockIdx.x;
  if (t >= tokens) return;
  const long long slot = (long long)block_table[t / page_size] * page_size + t % page_size;
  hp_copy_row(k_cache + slot * row, kv + (long long)t * row, row);
  hp_copy_row(v_cache + slot * row, kv + ((long long)tokens + t) * row, row);
}

// kv_cache[0][slot] = e4m3(k[t]·(1/k_scale[h])), kv_cache[1][slot] likewise for v.
template <typename T>
__device__ __forceinline__ void hp_kv_write_fp8_impl(const T* __restrict__ k, const T* __restrict__ v,
                                                     const int* __restrict__ slot_mapping,
                                                     const float* __restrict__ k_scale,
                                                     const float* __restrict__ v_scale,
                                                     unsigned char* __restrict__ kv_cache, int tokens, int row,
                                                     int head_dim, long long slots) {
  const int t = blockIdx.x;
  if (t >= tokens) return;
  const long long slot = slot_mapping[t];
  if (slot < 0 || slot >= slots) return;  // padding tokens (slot -1) are skipped, as in vLLM
  const T* ks = k + (long long)t * row;
  const T* vs = v + (long long)t * row;
  unsigned char* kd = kv_cache + slot * row;
  unsigned char* vd = kv_cache + (slots + slot) * row;
  for (int i = threadIdx.x; i < row; i += blockDim.x) {
    const int h = i / head_dim;
    kd[i] = hp_fp8_e4m3_from_float(hp_to_float(ks[i]) * (1.f / k_scale[h]));
    vd[i] = hp_fp8_e4m3_from_float(hp_to_float(vs[i]) * (1.f / v_scale[h]));
  }
}

// kv[0][t] = k_cache[slot(t)]·k_scale[h], kv[1][t] likewise, rounded to T.
template <typename T>
__device__ __forceinline__ void hp_kv_read_fp8_impl(const unsigned char* __restrict__ k_cache,
                                                    const unsigned char* __restrict__ v_cache,
                                                    const int* __restrict__ block_table,
                                                    const float* __restrict__ k_scale,
                                                    const float* __restrict__ v_scale, T* __restrict__ kv,
                                                    int tokens, int row, int head_dim, int page_size) {
  const int t = blockIdx.x;
  if (t >= tokens) return;
  const long long slot = (long long)block_table[t / page_size] * page_size + t % page_size;
  const unsigned char* ks = k_cache + slot * row;
  const unsigned char* vs = v_cache + slot * row;
  T* kd = kv + (long long)t * row;
  T* vd = kv + ((long long)tokens + t) * row;
  for (int i = threadIdx.x; i < row; i += blockDim.x) {
    const int h = i / head_dim;
    kd[i] = hp_from_float<T>(hp_fp8_e4m3_to_float(ks[i]) * k_scale[h]);
    vd[i] = hp_from_float<T>(hp_fp8_e4m3_to_float(vs[i]) * v_scale[h]);
  }
}

#define HP_KV(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_KV_THREADS) \
  hp_kv_write_##SUFFIX(const T* __restrict__ k, const T* __restrict__ v, const int* __restrict__ slot_mapping, \
                       T* __restrict__ kv_cache, int tokens, int row, long long slots) { \
    hp_kv_write_impl<T>(k, v, slot_mapping, kv_cache, tokens, row, slots); \
  } \
  extern "C" __global__ void __launch_bounds__(HP_KV_THREADS) \
  hp_kv_read_##SUFFIX(const T* __restrict__ k_cache, const T* __restrict__ v_cache, \
                      const int* __restrict__ block_table, T* __restrict__ kv, int tokens, int row, int page_size) { \
    hp_kv_read_impl<T>(k_cache, v_cache, block_table, kv, tokens, row, page_size); \
  } \
  extern "C" __global__ void __launch_bounds__(HP_KV_THREADS) \
  hp_kv_write_##SUFFIX##_fp8kv(const T* __restrict__ k, const T* __restrict__ v, \
                               const int* __restrict__ slot_mapping, const float* __restrict__ k_scale, \
                               const float* __restrict__ v_scale, unsigned char* __restrict__ kv_cache, int tokens, \
                               int row, int head_dim, long long slots) { \
    hp_kv_write_fp8_impl<T>(k, v, slot_mapping, k_scale, v_scale, kv_cache, tokens, row, head_dim, slots); \
  } \
  extern "C" __global__ void __launch_bounds__(HP_KV_THREADS) \
  hp_kv_read_##SUFFIX##_fp8kv(const unsigned char* __restrict__ k_cache, const unsigned char* __restrict__ v_cache, \
                              const int* __restrict__ block_table, const float* __restrict__ k_scale, \
                              const float* __restrict__ v_scale, T* __restrict__ kv, int tokens, int row, \
                              int head_dim, int page_size) { \
    hp_kv_read_fp8_impl<T>(k_cache, v_cache, block_table, k_scale, v_scale, kv, tokens, row, head_dim, page_size); \
  }
HP_KV(f32, float)
HP_KV(f16, f16_t)
HP_KV(bf16, bf16_t)
