// hotpath_common.cuh — the portability header every kernel includes.
// CUDA (NVRTC) and HIP (hipRTC) differ only in what this header defines:
//  - element types: f16_t, bf16_t and their conversions hp_to_float / hp_from_float<T>.
//    On HIP, bf16 is raw 16-bit storage with its own conversions (ROCm 5.2's hip_bfloat16.h
//    does not compile under hipRTC), and f16 is clang's _Float16.
//  - the lane group: kernels are written for groups of HP_LANES = 32 lanes. A CUDA warp is
//    one group; an AMD wavefront of 64 holds two, and the reductions below (xor offsets
//    16..1) never cross from one half of a wavefront to the other. Launch geometry is
//    therefore the same on both vendors.
//  - matrix instructions: mma.sync (NVIDIA) is used only under !HP_HIP; HIP code paths use
//    their own fallback or MFMA builtins.
#pragma once

#if defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__) || defined(__HIPCC_RTC__)
#define HP_HIP 1
#include <hip/hip_runtime.h>
typedef _Float16 f16_t;
struct __attribute__((aligned(2))) bf16_t {
  unsigned short x;
};
__device__ __forceinline__ float hp_to_float(f16_t x) { return (float)x; }
__device__ __forceinline__ float hp_to_float(bf16_t v) { return __uint_as_float((unsigned)v.x << 16); }
template <typename T> __device__ __forceinline__ T hp_from_float(float x);
template <> __device__ __forceinline__ f16_t hp_from_float<f16_t>(float x) { return (f16_t)x; }
template <> __device__ __forceinline__ bf16_t hp_from_float<bf16_t>(float x) {
  unsigned u = __float_as_uint(x);
  bf16_t r;
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    r.x = 0x7fc0;  // NaN stays NaN
  } else {
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
    r.x = (unsigned short)(u >> 16);
  }
  return r;
}
#else
#include <cuda_fp16.h>
#include <cuda_bf16.h>
typedef __half f16_t;
typedef __nv_bfloat16 bf16_t;
__device__ __forceinline__ float hp_to_float(f16_t x) { return __half2float(x); }
__device__ __forceinline__ float hp_to_float(bf16_t x) { return __bfloat162float(x); }
template <typename T> __device__ __forceinline__ T hp_from_float(float x);
template <> __device__ __forceinline__ f16_t hp_from_float<f16_t>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ bf16_t hp_from_float<bf16_t>(float x) { return __float2bfloat16_rn(x); }
#endif

__device__ __forceinline__ float hp_to_float(float x) { return x; }
template <> __device__ __forceinline__ float hp_from_float<float>(float x) { return x; }

/// Lanes that cooperate in the kernels' reductions (a CUDA warp; half an AMD wavefront).
#define HP_LANES 32
/// Kept for older kernels: the lane-group width, not the hardware wavefront size.
#define HP_WARP HP_LANES

/// Sum over one group of 32 lanes (all 32 get the result).
__device__ __forceinline__ float hp_warp_sum(float v) {
#if defined(HP_HIP)
  for (int o = HP_LANES / 2; o > 0; o >>= 1) v += __shfl_xor(v, o);
#else
  for (int o = HP_LANES / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
#endif
  return v;
}

/// Max over one group of 32 lanes (all 32 get the result).
__device__ __forceinline__ float hp_warp_max(float v) {
#if defined(HP_HIP)
  for (int o = HP_LANES / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor(v, o));
#else
  for (int o = HP_LANES / 2; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
#endif
  return v;
}
