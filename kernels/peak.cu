// peak.cu — the compute roofs. Contract: kernels/README.md.
//  - hp_peak_fma_f32: 8 independent chains x <- fmaf(x, 1 - 2^-10, 2^-10) per thread (FMA units).
//  - hp_peak_mma_{f16,bf16,fp8}: 4 independent tensor-core accumulator chains per warp,
//    C <- A*B + C with every A entry 2^-6 and B the identity (first 8 rows of a 16x8 or 32x8
//    slice), so every accumulator ends at iters * 2^-6 exactly. One A register is XORed with
//    (i & zero) every step, `zero` a kernel argument that is 0 at run time: the product is
//    not loop-invariant as far as the compiler knows, so it cannot be hoisted out of the
//    timed loop (ptxas did exactly that to the e4m3 mma it emulates on sm_90). fp8 is
//    compiled for sm_89 only, the one target where mma.sync e4m3 runs on the tensor cores.
//    HIP: the same contract on MFMA (v_mfma_f32_16x16x16*), see the HP_HIP section below.
//  - hp_peak_wgmma_{f16,bf16,fp8} (sm_90a only): one warpgroup per block issues two
//    independent wgmma m64n128k{16,32} accumulator chains from shared memory, every A entry
//    2^-6 and every B entry 2^-4 (fp8: 2^-5), so each step adds K·a·b = 2^-6 to every
//    accumulator whatever the operand layout, and every accumulator ends at iters * 2^-6.
//    The asynchronous wgmma cannot be hoisted; CI disassembles the loop (HGMMA expected).
#include "hotpath_common.cuh"

#define HP_PEAK_THREADS 256

extern "C" __global__ void __launch_bounds__(HP_PEAK_THREADS) hp_peak_fma_f32(float* __restrict__ out, int iters) {
  const float alpha = 1.0f - 1.0f / 1024.0f, beta = 1.0f / 1024.0f;
  float x[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) x[j] = 0.0f;
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int j = 0; j < 8; ++j) x[j] = fmaf(x[j], alpha, beta);
  }
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
#pragma unroll
  for (int j = 0; j < 8; ++j) out[t * 8 + j] = x[j];
}

#if !defined(HP_HIP)

// Fragment layouts (PTX ISA, "Matrix Fragments for mma.m16n8k16"): lane = 4*g + t.
//  A (16x16, row-major), four .b32 registers of two 16-bit values: every entry is 2^-6,
//    so the layout does not matter.
//  B (16x8, "col"), two .b32 registers: b0 holds B[2t][g], B[2t+1][g]; b1 holds
//    B[2t+8][g], B[2t+9][g]. Identity: B[k][n] = 1 iff k == n, so only b0 can hold a 1.
//  C/D (16x8 f32): c0,c1 = C[g][2t], C[g][2t+1]; c2,c3 = C[g+8][2t], C[g+8][2t+1].
__device__ __forceinline__ unsigned hp_pack16(unsigned short lo, unsigned short hi) {
  return (unsigned)lo | ((unsigned)hi << 16);
}

#define HP_PEAK_MMA16(NAME, T, STEP_BITS, ONE_BITS) \
  extern "C" __global__ void __launch_bounds__(HP_PEAK_THREADS) NAME(float* __restrict__ out, int iters, int zero) { \
    const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4; \
    const unsigned a = hp_pack16(STEP_BITS, STEP_BITS); \
    const unsigned b0 = hp_pack16(2 * t == g ? ONE_BITS : 0, 2 * t + 1 == g ? ONE_BITS : 0); \
    const unsigned b1 = 0u; \
    float c[4][4]; \
    _Pragma("unroll") for (int k = 0; k < 4; ++k) { c[k][0] = c[k][1] = c[k][2] = c[k][3] = 0.0f; } \
    for (int i = 0; i < iters; ++i) { \
      const unsigned af[4] = {a ^ ((unsigned)i & (unsigned)zero), a, a, a}; \
      _Pragma("unroll") for (int k = 0; k < 4; ++k) hp_mma(c[k], af, b0, b1, T()); \
    } \
    const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32; \
    _Pragma("unroll") for (int k = 0; k < 4; ++k) { \
      _Pragma("unroll") for (int r = 0; r < 4; ++r) out[warp * 512 + k * 128 + lane * 4 + r] = c[k][r]; \
    } \
  }

// f16: 2^-6 = 0x2400, 1.0 = 0x3C00. bf16: 2^-6 = 0x3C80, 1.0 = 0x3F80.
HP_PEAK_MMA16(hp_peak_mma_f16, f16_t, 0x2400, 0x3C00)
HP_PEAK_MMA16(hp_peak_mma_bf16, bf16_t, 0x3C80, 0x3F80)

// fp8 e4m3, mma.m16n8k32, on sm_89 only (Ada runs it on the tensor cores; Hopper emulates
// it, so Hopper's fp8 roof is hp_peak_wgmma_fp8): A registers hold four e4m3 values each
// (all 2^-6 = 0x08); B (32x8, "col"): b0 holds B[4t+i][g] (i = 0..3, byte i), b1 holds
// B[4t+16+i][g]. Identity: byte i of b0 is 1.0 (0x38) iff 4t + i == g.
#if __CUDA_ARCH__ == 890
extern "C" __global__ void __launch_bounds__(HP_PEAK_THREADS) hp_peak_mma_fp8(float* __restrict__ out, int iters,
                                                                              int zero) {
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  float c[4][4];
#pragma unroll
  for (int k = 0; k < 4; ++k) c[k][0] = c[k][1] = c[k][2] = c[k][3] = 0.0f;
  const unsigned a = 0x08080808u;
  unsigned b0 = 0u;
#pragma unroll
  for (int i = 0; i < 4; ++i)
    if (4 * t + i == g) b0 |= 0x38u << (8 * i);
  const unsigned b1 = 0u;
  for (int i = 0; i < iters; ++i) {
    const unsigned af[4] = {a ^ ((unsigned)i & (unsigned)zero), a, a, a};
#pragma unroll
    for (int k = 0; k < 4; ++k) hp_mma_e4m3(c[k], af, b0, b1);
  }
  const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
#pragma unroll
  for (int k = 0; k < 4; ++k) {
#pragma unroll
    for (int r = 0; r < 4; ++r) out[warp * 512 + k * 128 + lane * 4 + r] = c[k][r];
  }
}
#endif

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// wgmma peaks: a 8 KiB A region and a 16 KiB B region, every entry equal, descriptors with
// 128 B offsets: whatever core-matrix layout the hardware reads, each address stays inside
// its region (A: at most 8·128 + 2·128 B, B: 16·128 + 2·128 B), so D += K·a·b exactly.
// A = 2^-6 and B = 2^-4 (f16, bf16; K = 16) or 2^-5 (fp8; K = 32): 2^-6 per step.
#define HP_PEAK_WGMMA(NAME, MMA, A_WORD, B_WORD) \
  extern "C" __global__ void __launch_bounds__(128) NAME(float* __restrict__ out, int iters) { \
    __shared__ __align__(1024) unsigned sa[2048]; \
    __shared__ __align__(1024) unsigned sb[4096]; \
    for (int i = threadIdx.x; i < 2048; i += 128) sa[i] = A_WORD; \
    for (int i = threadIdx.x; i < 4096; i += 128) sb[i] = B_WORD; \
    hp_fence_proxy_async(); \
    __syncthreads(); \
    const unsigned long long da = hp_wgmma_desc(sa, 128, 128), db = hp_wgmma_desc(sb, 128, 128); \
    float c0[64], c1[64]; \
    _Pragma("unroll") for (int j = 0; j < 64; ++j) { c0[j] = 0.0f; c1[j] = 0.0f; } \
    for (int i = 0; i < iters; ++i) { \
      hp_wgmma_fence(); \
      MMA(c0, da, db); \
      MMA(c1, da, db); \
      hp_wgmma_commit(); \
      hp_wgmma_wait<1>(); \
    } \
    hp_wgmma_wait<0>(); \
    const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; \
    _Pragma("unroll") for (int j = 0; j < 64; ++j) { out[t * 128 + j] = c0[j]; out[t * 128 + 64 + j] = c1[j]; } \
  }

// f16: 2^-6 = 0x2400, 2^-4 = 0x2C00. bf16: 2^-6 = 0x3C80, 2^-4 = 0x3D80. e4m3: 2^-6 = 0x08, 2^-5 = 0x10.
HP_PEAK_WGMMA(hp_peak_wgmma_f16, hp_wgmma_f16, 0x24002400u, 0x2C002C00u)
HP_PEAK_WGMMA(hp_peak_wgmma_bf16, hp_wgmma_bf16, 0x3C803C80u, 0x3D803D80u)
HP_PEAK_WGMMA(hp_peak_wgmma_fp8, hp_wgmma_e4m3, 0x08080808u, 0x10101010u)
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

#else  // HP_HIP: AMD matrix cores (MFMA)

// One chain step of one wave64 = one v_mfma_f32_16x16x16{f16,bf16_1k}: D(16x16 f32) = A(16x16)
// · B(16x16) + C. FLOPs per instruction 2·16·16·16 = 8192 per wave = 4096 per 32-lane group,
// which is exactly what the launcher counts per group and chain step (2·16·8·K, K = 16):
// hp_peak_mma_* on AMD does the same counted work per "warp" of the contract as mma.sync
// m16n8k16 does on NVIDIA. (gfx908 has no bf16_1k: two v_mfma_f32_16x16x8bf16 of 4096 FLOPs
// each form one step, the same 8192 FLOPs.)
//
// Operand/accumulator layouts: hotpath_common.cuh (hp_mma); wave lane L = 0..63, vector
// element e = 0..3 (register e/2, half e%2).
// A: every entry 2^-6 (layout irrelevant). B = identity: lane L's element e holds
// B[4·(L/16)+e][L%16], which is 1 iff 4·(L/16) + e == L%16. So every D entry gains exactly
// 2^-6 per step and ends at iters·2^-6 (exact in f32 for iters <= 2^24).
// Output: the wave's 64 lanes × 4 floats of chain k = 256 accumulators; lane L stores its
// four at out[(global_thread/32)·512 + k·128 + (L%32)·4 + r]: each 32-lane half of the wave
// writes the 128 floats of its "warp" per chain, exactly the NVIDIA index formula.
// (The `zero` argument of the NVIDIA contract is taken and unused here: the MFMA builtins
// are not inline assembly, and LLVM does not split a multiply-accumulate into a hoistable
// product.)
template <typename V, typename E>
__device__ __forceinline__ void peak_mma_body(float* __restrict__ out, int iters, E step, E one,
                                              E zero) {
  const long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  hp_f32x4 c[4];
#pragma unroll
  for (int k = 0; k < 4; ++k) c[k] = hp_f32x4{0.f, 0.f, 0.f, 0.f};
#if defined(HP_MFMA)
  const int wl = threadIdx.x % 64;  // lane in the wavefront
  V a, b;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    a[e] = step;
    b[e] = (4 * (wl / 16) + e == wl % 16) ? one : zero;
  }
  for (int i = 0; i < iters; ++i) {
#pragma unroll
    for (int k = 0; k < 4; ++k) hp_mma(c[k], a, b);
  }
#else
  // No matrix cores on this target: NaN in every lane, so the host's exactness check
  // rejects the run instead of reporting a matrix peak that was never measured.
  (void)iters; (void)step; (void)one; (void)zero;
#pragma unroll
  for (int k = 0; k < 4; ++k) c[k] = hp_f32x4{1.f, 1.f, 1.f, 1.f} * __int_as_float(0x7fc00000);
#endif
#pragma unroll
  for (int k = 0; k < 4; ++k) {
#pragma unroll
    for (int r = 0; r < 4; ++r) out[warp * 512 + k * 128 + lane * 4 + r] = c[k][r];
  }
}

// f16: 2^-6 and 1.0 as _Float16. bf16 (raw bits as short): 2^-6 = 0x3C80, 1.0 = 0x3F80.
extern "C" __global__ void __launch_bounds__(HP_PEAK_THREADS) hp_peak_mma_f16(float* __restrict__ out, int iters,
                                                                              int zero) {
  (void)zero;
  peak_mma_body<hp_f16x4, _Float16>(out, iters, (_Float16)0.015625f, (_Float16)1.0f, (_Float16)0.0f);
}
extern "C" __global__ void __launch_bounds__(HP_PEAK_THREADS) hp_peak_mma_bf16(float* __restrict__ out, int iters,
                                                                               int zero) {
  (void)zero;
  peak_mma_body<hp_s16x4, short>(out, iters, (short)0x3C80, (short)0x3F80, (short)0);
}

#endif  // HP_HIP
