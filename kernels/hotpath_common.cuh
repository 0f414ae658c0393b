// hotpath_common.cuh — the portability header every kernel includes.
// CUDA (NVRTC) and HIP (hipRTC) differ only in what this header defines:
//  - element types: f16_t, bf16_t and their conversions hp_to_float / hp_from_float<T>.
//    On HIP, bf16 is raw 16-bit storage with its own conversions (ROCm 5.2's hip_bfloat16.h
//    does not compile under hipRTC), and f16 is clang's _Float16.
//  - the lane group: kernels are written for groups of HP_LANES = 32 lanes. A CUDA warp is
//    one group; an AMD wavefront of 64 holds two, and the reductions below (xor offsets
//    16..1) never cross from one half of a wavefront to the other. Launch geometry is
//    therefore the same on both vendors.
//  - matrix instructions: hp_mma over mma.sync (NVIDIA) and MFMA (AMD CDNA), with each
//    vendor's fragment loads, and the static shared-memory limit HP_SMEM_LIMIT (see the end
//    of this file). No kernel carries its own matrix wrappers.
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

// ---- fp8 e4m3: the encoding of the device's fp8 codes ----
// OCP e4m3 (bias 7, largest ±448, NaN 0x7f/0xff, 0x80 = −0) on every target but AMD gfx940,
// gfx941 and gfx942 (MI300), whose hardware fp8 is e4m3fnuz (bias 8, largest ±240, 0x80 the
// only NaN, no −0, no infinities; every other code is worth half its OCP value). HP_FP8_FNUZ
// selects e4m3fnuz: defined below for those targets, or by the build (the emulator compiles
// the fnuz software path with -DHP_FP8_FNUZ). Core generates and checks fp8 data in the same
// encoding for the same target (crates/core/src/fp8.rs, Fp8Encoding::for_arch). The kernels
// call hp_fp8_e4m3_to_float / hp_fp8_e4m3_from_float, which take the selected meaning.
#if defined(HP_HIP) && (defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__)) && !defined(HP_FP8_FNUZ)
#define HP_FP8_FNUZ 1
#endif

/// An OCP fp8 e4m3 code (the low byte of `b`) as a float, exactly, by bit arithmetic alone
/// (every vendor and target; the emulator runs it too): codes with an exponent field e > 0 are
/// (1 + m/8)·2^(e−7), their exponent re-biased into an f32; e = 0 codes are m·2⁻⁹. The NaN
/// codes (0x7f, 0xff) are not decoded (they come out as ±480); no input holds them.
__device__ __forceinline__ float hp_fp8_ocp_to_float(unsigned b) {
  const unsigned mag = (b & 0x7fu) << 20;
  float v = __uint_as_float(mag + (120u << 23));
  if (mag < (1u << 23)) v = (float)(b & 7u) * 0.001953125f;
  return __uint_as_float(__float_as_uint(v) | ((b & 0x80u) << 24));
}

/// A float as an OCP fp8 e4m3 code, rounded to nearest even and saturated at ±448 (NaN gives
/// 0x7f), by bit arithmetic alone: below 2⁻⁶ the code is the multiple of 2⁻⁹ nearest to |x|;
/// above, the exponent re-biased and the mantissa rounded to three bits, a carry out of it
/// moving into the exponent by the addition. The same arithmetic as core's
/// `fp8_e4m3_from_f32`, so host and device agree on every code.
__device__ __forceinline__ unsigned char hp_fp8_ocp_from_float(float x) {
  if (x != x) return 0x7f;
  const unsigned sign = (__float_as_uint(x) >> 24) & 0x80u;
  const float a = fminf(fabsf(x), 448.f);
  if (a < 0.015625f) return (unsigned char)(sign | (unsigned)rintf(a * 512.f));
  const unsigned b = __float_as_uint(a);
  const unsigned exp = (b >> 23) - 120u;  // e4m3 exponent field, 1..15
  const unsigned m3 = (b >> 20) & 7u, rest = b & 0xfffffu;
  const unsigned up = rest > 0x80000u || (rest == 0x80000u && (m3 & 1u));
  return (unsigned char)(sign | ((exp << 3) + m3 + up));
}

/// An e4m3fnuz code (the low byte of `b`) as a float, exactly, by bit arithmetic alone:
/// exponent field e > 0 is (1 + m/8)·2^(e−8), e = 0 is m·2⁻¹⁰, 0x80 is NaN.
__device__ __forceinline__ float hp_fp8_fnuz_sw_to_float(unsigned b) {
  const unsigned mag = (b & 0x7fu) << 20;
  float v = __uint_as_float(mag + (119u << 23));
  if (mag < (1u << 23)) v = (float)(b & 7u) * 0.0009765625f;
  v = __uint_as_float(__float_as_uint(v) | ((b & 0x80u) << 24));
  return (b & 0xffu) == 0x80u ? __uint_as_float(0x7fc00000u) : v;
}

/// A float as an e4m3fnuz code, rounded to nearest even and saturated at ±240 (NaN gives
/// 0x80; a value that rounds to zero gives 0x00, there being no −0), by bit arithmetic
/// alone: hp_fp8_ocp_from_float's with the exponent biased by 8 (multiples of 2⁻¹⁰ below
/// 2⁻⁷). The same arithmetic as core's `fp8_e4m3fnuz_from_f32`.
__device__ __forceinline__ unsigned char hp_fp8_fnuz_sw_from_float(float x) {
  if (x != x) return 0x80;
  const unsigned sign = (__float_as_uint(x) >> 24) & 0x80u;
  const float a = fminf(fabsf(x), 240.f);
  unsigned mag;
  if (a < 0.0078125f) {
    mag = (unsigned)rintf(a * 1024.f);
  } else {
    const unsigned b = __float_as_uint(a);
    const unsigned exp = (b >> 23) - 119u;  // e4m3fnuz exponent field, 1..15
    const unsigned m3 = (b >> 20) & 7u, rest = b & 0xfffffu;
    const unsigned up = rest > 0x80000u || (rest == 0x80000u && (m3 & 1u));
    mag = (exp << 3) + m3 + up;
  }
  return (unsigned char)(mag ? (sign | mag) : 0u);
}

#if defined(HP_FP8_FNUZ) && defined(HP_HIP) && (defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__))
// gfx94x's conversion instructions. v_cvt_f32_fp8 decodes a code exactly (every e4m3fnuz
// value is an f32; fp8 subnormals included, 0x80 gives NaN). v_cvt_pk_fp8_f32 rounds to
// nearest even but does not saturate (the clamp bit is off): the input is clamped to ±240
// first, as rocBLAS, hipBLASLt and CK do, NaN is answered here (0x80), and a 0x80 result for
// a number (a negative value that rounds to zero) is made 0x00, so the codes are those of
// hp_fp8_fnuz_sw_from_float for every input, assuming the instruction writes fp8 subnormals
// rather than flushing them (not verified on hardware).
#define HP_FP8_FNUZ_HW 1
__device__ __forceinline__ float hp_fp8_fnuz_hw_to_float(unsigned b) {
  return __builtin_amdgcn_cvt_f32_fp8((int)b, 0);
}
__device__ __forceinline__ unsigned char hp_fp8_fnuz_hw_from_float(float x) {
  if (x != x) return 0x80;
  const float c = fminf(fmaxf(x, -240.f), 240.f);
  const unsigned r = (unsigned)__builtin_amdgcn_cvt_pk_fp8_f32(c, c, 0, false) & 0xffu;
  return (unsigned char)(r == 0x80u ? 0u : r);
}
#endif

/// A code of the device's fp8 encoding (the low byte of `b`) as a float, exactly: OCP by
/// bit arithmetic, or e4m3fnuz (HP_FP8_FNUZ) by gfx94x's conversion instruction or bit
/// arithmetic elsewhere (the emulator).
__device__ __forceinline__ float hp_fp8_e4m3_to_float(unsigned b) {
#if defined(HP_FP8_FNUZ_HW)
  return hp_fp8_fnuz_hw_to_float(b);
#elif defined(HP_FP8_FNUZ)
  return hp_fp8_fnuz_sw_to_float(b);
#else
  return hp_fp8_ocp_to_float(b);
#endif
}

/// A float as a code of the device's fp8 encoding, rounded to nearest even and saturated at
/// its largest finite value (±448 OCP, ±240 e4m3fnuz).
__device__ __forceinline__ unsigned char hp_fp8_e4m3_from_float(float x) {
#if defined(HP_FP8_FNUZ_HW)
  return hp_fp8_fnuz_hw_from_float(x);
#elif defined(HP_FP8_FNUZ)
  return hp_fp8_fnuz_sw_from_float(x);
#else
  return hp_fp8_ocp_from_float(x);
#endif
}

/// What the f16 whose bits are a code's below its sign (moved up by 7, the sign above them)
/// is multiplied by to give the code's value: it is value·2⁻⁸ for OCP e4m3, value·2⁻⁷ for
/// e4m3fnuz (attn_decode's tensor-core decode, CUDA only; the NaN codes are not decoded).
#if defined(HP_FP8_FNUZ)
#define HP_FP8_F16_SCALE 128.f
#else
#define HP_FP8_F16_SCALE 256.f
#endif

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

/// Exchange with lane `lane ^ offset` of the same 32-lane group (offset < 32).
__device__ __forceinline__ float hp_shfl_xor(float v, int offset) {
#if defined(HP_HIP)
  return __shfl_xor(v, offset);
#else
  return __shfl_xor_sync(0xffffffffu, v, offset);
#endif
}

/// Σ over one 16-byte vector of weights and the matching vector of activations, both of T
/// (16/sizeof(T) products in f32): the step of the GEMV-like weight streams (gemv, moe_gemm).
template <typename T>
__device__ __forceinline__ float hp_dot16(const uint4& w, const uint4& x) {
  const T* we = reinterpret_cast<const T*>(&w);
  const T* xe = reinterpret_cast<const T*>(&x);
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < (int)(16 / sizeof(T)); ++j) s = fmaf(hp_to_float(we[j]), hp_to_float(xe[j]), s);
  return s;
}

// "Minus infinity" that stays finite: exp2((HP_SCORE_NEG - x)·c) == 0 for any real score x.
#define HP_SCORE_NEG (-1.0e30f)

/// The split-K combine of the decode kernels (attn_decode, attn_mla_decode), one block per
/// (head h = blockIdx.x, sequence b = blockIdx.y): o[b][h][e] = Σ_s 2^(m_s − M)·o_s[e] /
/// Σ_s 2^(m_s − M)·l_s over the `splits` partials with l_s > 0 (`part_ml` holds (m_s, l_s),
/// m_s in log2 units; `part_o` the unnormalised rows of `d`). Lanes 0..31 compute the weights
/// once into `s_w` (the caller's shared memory, `splits` floats) and 1/Σ into `s_inv[0]`; the
/// block's threads then walk the columns. Every thread of the block must call it.
template <typename T>
__device__ __forceinline__ void hp_split_combine(const float* __restrict__ part_o, const float* __restrict__ part_ml,
                                                 T* __restrict__ o, int hq, int splits, int d, float* s_w,
                                                 float* s_inv) {
  const int h = blockIdx.x, b = blockIdx.y;
  const long long base = ((long long)b * hq + h) * splits;
  if (threadIdx.x < HP_LANES) {
    float mx = HP_SCORE_NEG;
    for (int s = threadIdx.x; s < splits; s += HP_LANES)
      if (part_ml[(base + s) * 2 + 1] > 0.f) mx = fmaxf(mx, part_ml[(base + s) * 2]);
    mx = hp_warp_max(mx);
    float den = 0.f;
    for (int s = threadIdx.x; s < splits; s += HP_LANES) {
      const float l = part_ml[(base + s) * 2 + 1];
      const float w = l > 0.f ? exp2f(part_ml[(base + s) * 2] - mx) : 0.f;
      s_w[s] = w;
      den += w * l;
    }
    den = hp_warp_sum(den);
    if (threadIdx.x == 0) s_inv[0] = den > 0.f ? 1.f / den : 0.f;
  }
  __syncthreads();
  for (int e = threadIdx.x; e < d; e += blockDim.x) {
    float num = 0.f;
    for (int s = 0; s < splits; ++s) num += s_w[s] * part_o[(base + s) * d + e];
    o[((long long)b * hq + h) * d + e] = hp_from_float<T>(num * s_inv[0]);
  }
}

/// A load that is cached in L2 only (not L1): what the l2_read ceiling measures.
template <typename T>
__device__ __forceinline__ T hp_ld_l2(const T* p) {
#if defined(HP_HIP)
  return *p;
#else
  return __ldcg(p);
#endif
}

// ---------------------------------------------------------------------------------------
// Shared memory: the most one block may declare statically. Kernels static_assert their
// tiles against it, so a tile that would not fit fails to compile on the vendor it does not
// fit; the launcher also refuses any launch over the device's own per-block limit
// (hotpath_core::launch::check_shared_memory).
//  - AMD: 64 KiB of LDS per workgroup (gfx908, gfx90a, gfx942).
//  - NVIDIA: 48 KiB of static shared memory per block; more needs dynamic shared memory and
//    an opt-in attribute. Kernels that want more (attn_decode's multi-stage ring) declare
//    `extern __shared__` memory whose size the launch plan carries; the backend opts in
//    (cuFuncSetAttribute) and refuses a plan over the device's opt-in limit before launch.
#if defined(HP_HIP)
#define HP_SMEM_LIMIT 65536
#else
#define HP_SMEM_LIMIT 49152
#endif

// ---------------------------------------------------------------------------------------
// Matrix instructions: one interface over NVIDIA's mma.sync and AMD's MFMA.
//
// HP_MMA is defined where a kernel may use them: every NVIDIA target hotpath builds for
// (sm_80 and later) and the AMD CDNA targets with MFMA (HP_MFMA: gfx908, gfx90a, gfx940,
// gfx941, gfx942, gfx950). Elsewhere (RDNA) kernels take their scalar fallback.
//
// hp_mma(acc, a, b...) accumulates acc += A·B over one tile of HP_MMA_M × HP_MMA_N × HP_MMA_K
// in f32; the element type comes from the fragment (or a T() tag where the fragment is
// untyped registers). The fragment layouts differ between the vendors, so loading a
// fragment is vendor code, also here:
//  - NVIDIA, mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16} (16 × 8 × 16) per warp of 32:
//    a = unsigned[4], b = two unsigned (b0, b1), acc = float[4], as the PTX ISA's "Matrix
//    Fragments for mma.m16n8k16" lays them out; loaded from shared memory with hp_ldsm_x4 /
//    hp_ldsm_x4_t and filled by 16-byte hp_cp_async16 copies. e4m3 is m16n8k32 (sm_89+).
//  - AMD, v_mfma_f32_16x16x16{f16,bf16_1k} (16 × 16 × 16) per wavefront of 64:
//    a, b = hp_mfma_vec<T>::type (four 16-bit elements per lane), acc = hp_f32x4, with
//    (AMD Matrix Instruction Calculator, github.com/ROCm/amd_matrix_instruction_calculator,
//    `--architecture cdna2 --instruction v_mfma_f32_16x16x16f16 --detail-instruction`; the
//    same for 16x16x16bf16_1k), wave lane L = 0..63 and vector element e = 0..3:
//      A[i][k]: lane 16·(k/4) + i, element k%4    B[k][j]: lane 16·(k/4) + j, element k%4
//      D[i][j]: lane 16·(i/4) + j, element i%4
//    so one 8-byte hp_frag read of a K-contiguous [row][k] LDS tile gives either operand.
//    gfx908 has no bf16_1k: two v_mfma_f32_16x16x8bf16 take elements {0,1} and then {2,3}
//    of both operands; the k relabelling is the same on both sides, so the same 16 products
//    are summed.
// FLOPs of one call: 2·16·8·16 = 4096 per NVIDIA warp, 2·16·16·16 = 8192 per AMD wave
// (4096 per 32-lane group), which is what the launchers count (launch.rs).
#if !defined(HP_HIP)
#define HP_MMA 1
#define HP_MMA_M 16
#define HP_MMA_N 8
#define HP_MMA_K 16

// Shared-space byte address of a generic pointer into shared memory.
__device__ __forceinline__ unsigned hp_smem_u32(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
// 16-byte async global->shared copy; when `pred` is false no global byte is read and the
// 16 destination bytes are zero-filled (src-size operand 0).
__device__ __forceinline__ void hp_cp_async16(void* smem, const void* gmem, bool pred) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(hp_smem_u32(smem)),
               "l"(gmem), "r"(pred ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void hp_cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Wait until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void hp_cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
// Four 8×8 b16 matrices: lanes 8j..8j+7 give the row addresses of matrix j; lane t gets, in
// r[j], row t/4, columns 2(t%4) and 2(t%4)+1 of matrix j (lower column in the low half).
__device__ __forceinline__ void hp_ldsm_x4(unsigned (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(hp_smem_u32(smem))
               : "memory");
}
// As above, transposed: lane t gets, in r[j], rows 2(t%4) and 2(t%4)+1 (low, high half) of
// column t/4 of matrix j.
__device__ __forceinline__ void hp_ldsm_x4_t(unsigned (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(hp_smem_u32(smem))
               : "memory");
}
// acc += A·B for one m16n8k16 tile (f32 accumulators), element type selected by the tag.
__device__ __forceinline__ void hp_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                                       unsigned b1, f16_t) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void hp_mma(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                                       unsigned b1, bf16_t) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
// acc += A·B for one m16n8k32 e4m3 tile (sm_89+): each register holds four e4m3 values.
__device__ __forceinline__ void hp_mma_e4m3(float (&d)[4], const unsigned (&a)[4], unsigned b0,
                                            unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
// ---- wgmma (sm_90a): one warpgroup (4 consecutive warps) multiplies from shared memory.
// Shared-memory matrix descriptor without swizzle (PTX ISA, "Matrix Descriptor Format"):
// start address, leading and stride byte offsets, each >> 4.
__device__ __forceinline__ unsigned long long hp_wgmma_desc(const void* smem, unsigned lbo_bytes,
                                                            unsigned sbo_bytes) {
  const unsigned long long addr = hp_smem_u32(smem);
  return ((addr & 0x3FFFFull) >> 4) | ((unsigned long long)(lbo_bytes >> 4) << 16) |
         ((unsigned long long)(sbo_bytes >> 4) << 32);
}
// Orders this warpgroup's register accesses before the wgmma that follow.
__device__ __forceinline__ void hp_wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
// Closes the group of wgmma issued since the last commit.
__device__ __forceinline__ void hp_wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most N committed wgmma groups are in flight.
template <int N>
__device__ __forceinline__ void hp_wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Makes ordinary shared-memory stores visible to the async proxy (wgmma, TMA) before a barrier.
__device__ __forceinline__ void hp_fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
// d (64 f32 of an m64n128 accumulator) += A·B, A and B from shared memory (descriptors).
__device__ __forceinline__ void hp_wgmma_f16(float (&d)[64], unsigned long long da, unsigned long long db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, "
      "%11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "
      "%30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, "
      "%49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n"
      "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),
          "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),
          "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),
          "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
          "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]),
          "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]),
          "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),
          "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(1));
}
// d (64 f32 of an m64n128 accumulator) += A·B, A and B from shared memory (descriptors).
__device__ __forceinline__ void hp_wgmma_bf16(float (&d)[64], unsigned long long da, unsigned long long db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, "
      "%10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, "
      "%29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1, 0, 0;\n"
      "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),
          "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),
          "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),
          "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
          "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]),
          "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]),
          "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),
          "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(1));
}
// d (64 f32 of an m64n128 accumulator) += A·B, A and B from shared memory (descriptors).
__device__ __forceinline__ void hp_wgmma_e4m3(float (&d)[64], unsigned long long da, unsigned long long db) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, "
      "%10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, "
      "%29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, %64, %65, p, 1, 1;\n"
      "}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),
          "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),
          "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),
          "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),
          "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]),
          "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]),
          "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),
          "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(da), "l"(db), "r"(1));
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// Two floats rounded to T and packed as one b32 mma operand register (lo in bits 0..15).
__device__ __forceinline__ unsigned hp_pack2(float lo, float hi, f16_t) {
  return (unsigned)__half_as_ushort(__float2half_rn(lo)) |
         ((unsigned)__half_as_ushort(__float2half_rn(hi)) << 16);
}
__device__ __forceinline__ unsigned hp_pack2(float lo, float hi, bf16_t) {
  return (unsigned)__bfloat16_as_ushort(__float2bfloat16_rn(lo)) |
         ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn(hi)) << 16);
}

// One online-softmax step of a decode kernel's warp over its mma.sync score fragments
// s[NB][4] (head rows g = lane/4 and g + 8; n8 block nb, element e: token
// tok0 + 8nb + 2(lane%4) + (e & 1), valid below t1). Invalid scores become HP_SCORE_NEG; the
// running max m[2] (raw scores, reduced over the quad) and this lane's running sums l[2] are
// updated, the output fragments o[NO][4] (rows g: elements 0, 1; g + 8: 2, 3) rescaled, and
// s replaced by the weights exp2((s − m)·sl2) (0 for invalid tokens), ready for hp_pack2.
template <int NB, int NO>
__device__ __forceinline__ void hp_mma_softmax_step(float (&s)[NB][4], float (&m)[2], float (&l)[2],
                                                    float (&o)[NO][4], int tok0, int t1, float sl2) {
  const int t = threadIdx.x & 3;
  bool valid[NB][4];
  float mx[2] = {m[0], m[1]};
#pragma unroll
  for (int nb = 0; nb < NB; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      valid[nb][e] = tok0 + nb * 8 + 2 * t + (e & 1) < t1;
      if (!valid[nb][e]) s[nb][e] = HP_SCORE_NEG;
      mx[e >> 1] = fmaxf(mx[e >> 1], s[nb][e]);
    }
  float alpha[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    mx[r] = fmaxf(mx[r], hp_shfl_xor(mx[r], 1));
    mx[r] = fmaxf(mx[r], hp_shfl_xor(mx[r], 2));
    alpha[r] = exp2f((m[r] - mx[r]) * sl2);  // 0 when the old max was HP_SCORE_NEG
    m[r] = mx[r];
    l[r] *= alpha[r];
  }
#pragma unroll
  for (int nb = 0; nb < NO; ++nb) {
    o[nb][0] *= alpha[0];
    o[nb][1] *= alpha[0];
    o[nb][2] *= alpha[1];
    o[nb][3] *= alpha[1];
  }
#pragma unroll
  for (int nb = 0; nb < NB; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float p = valid[nb][e] ? exp2f((s[nb][e] - m[e >> 1]) * sl2) : 0.f;
      s[nb][e] = p;
      l[e >> 1] += p;
    }
}

#else  // HP_HIP

// No asynchronous global->shared copy on AMD: the same calls copy through registers, so a
// kernel's multi-stage ring is correct on both vendors (the loads of a stage are still issued
// together; each wavefront waits for its own data when it stores it).
__device__ __forceinline__ void hp_cp_async16(void* smem, const void* gmem, bool pred) {
  const uint4 zero = {0u, 0u, 0u, 0u};
  *reinterpret_cast<uint4*>(smem) = pred ? *reinterpret_cast<const uint4*>(gmem) : zero;
}
__device__ __forceinline__ void hp_cp_async_commit() {}
template <int N>
__device__ __forceinline__ void hp_cp_async_wait() {}

// MFMA operand and accumulator vectors (defined on every HIP target, so fallbacks can use
// them too).
typedef float hp_f32x4 __attribute__((ext_vector_type(4)));
typedef _Float16 hp_f16x4 __attribute__((ext_vector_type(4)));
typedef short hp_s16x4 __attribute__((ext_vector_type(4)));
typedef short hp_s16x2 __attribute__((ext_vector_type(2)));

// The operand vector of element type T: f16 as _Float16, bf16 as its raw 16 bits.
template <typename T> struct hp_mfma_vec;
template <> struct hp_mfma_vec<f16_t> { typedef hp_f16x4 type; };
template <> struct hp_mfma_vec<bf16_t> { typedef hp_s16x4 type; };

// Four consecutive 16-bit elements at an 8-byte aligned LDS address: one MFMA operand.
template <typename V>
__device__ __forceinline__ V hp_frag(const unsigned short* p) {
  V v;
  __builtin_memcpy(&v, __builtin_assume_aligned(p, 8), 8);
  return v;
}

// Four f32 rounded to T as an MFMA operand vector.
__device__ __forceinline__ hp_f16x4 hp_round4(hp_f32x4 x, f16_t) {
  hp_f16x4 v;
#pragma unroll
  for (int e = 0; e < 4; ++e) v[e] = (_Float16)x[e];
  return v;
}
__device__ __forceinline__ hp_s16x4 hp_round4(hp_f32x4 x, bf16_t) {
  hp_s16x4 v;
#pragma unroll
  for (int e = 0; e < 4; ++e) v[e] = (short)hp_from_float<bf16_t>(x[e]).x;
  return v;
}

#if defined(__gfx908__) || defined(__gfx90a__) || defined(__gfx940__) || defined(__gfx941__) || \
    defined(__gfx942__) || defined(__gfx950__)
#define HP_MFMA 1
#define HP_MMA 1
#define HP_MMA_M 16
#define HP_MMA_N 16
#define HP_MMA_K 16

// acc += A·B for one 16×16×16 tile (f32 accumulators) on one wavefront.
__device__ __forceinline__ void hp_mma(hp_f32x4& d, hp_f16x4 a, hp_f16x4 b) {
  d = __builtin_amdgcn_mfma_f32_16x16x16f16(a, b, d, 0, 0, 0);
}
__device__ __forceinline__ void hp_mma(hp_f32x4& d, hp_s16x4 a, hp_s16x4 b) {
#if defined(__gfx908__)
  const hp_s16x2 alo = {a[0], a[1]}, ahi = {a[2], a[3]};
  const hp_s16x2 blo = {b[0], b[1]}, bhi = {b[2], b[3]};
  d = __builtin_amdgcn_mfma_f32_16x16x8bf16(alo, blo, d, 0, 0, 0);
  d = __builtin_amdgcn_mfma_f32_16x16x8bf16(ahi, bhi, d, 0, 0, 0);
#else
  d = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a, b, d, 0, 0, 0);
#endif
}
#endif  // MFMA targets
#endif  // HP_HIP
