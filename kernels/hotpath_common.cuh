// hotpath_common.cuh — the portability header every kernel includes.
// CUDA (NVRTC) and HIP (hipRTC) differ only in the type names and conversions below.
#pragma once

#if defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_runtime.h>
#include <hip/hip_fp16.h>
#include <hip/hip_bfloat16.h>
typedef __half f16_t;
typedef hip_bfloat16 bf16_t;
#define HP_WARP 64
__device__ __forceinline__ float hp_to_float(bf16_t x) { return static_cast<float>(x); }
template <typename T> __device__ __forceinline__ T hp_from_float(float x);
template <> __device__ __forceinline__ bf16_t hp_from_float<bf16_t>(float x) { return bf16_t(x); }
#else
#include <cuda_fp16.h>
#include <cuda_bf16.h>
typedef __half f16_t;
typedef __nv_bfloat16 bf16_t;
#define HP_WARP 32
__device__ __forceinline__ float hp_to_float(bf16_t x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T hp_from_float(float x);
template <> __device__ __forceinline__ bf16_t hp_from_float<bf16_t>(float x) { return __float2bfloat16_rn(x); }
#endif

__device__ __forceinline__ float hp_to_float(float x) { return x; }
__device__ __forceinline__ float hp_to_float(f16_t x) { return __half2float(x); }
template <> __device__ __forceinline__ float hp_from_float<float>(float x) { return x; }
template <> __device__ __forceinline__ f16_t hp_from_float<f16_t>(float x) { return __float2half_rn(x); }

/// Sum over one warp (all lanes get the result).
__device__ __forceinline__ float hp_warp_sum(float v) {
#if defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__)
  for (int o = HP_WARP / 2; o > 0; o >>= 1) v += __shfl_xor(v, o);
#else
  for (int o = HP_WARP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
#endif
  return v;
}

/// Max over one warp (all lanes get the result).
__device__ __forceinline__ float hp_warp_max(float v) {
#if defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__)
  for (int o = HP_WARP / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor(v, o));
#else
  for (int o = HP_WARP / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
#endif
  return v;
}
