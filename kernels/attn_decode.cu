// attn_decode.cu — decode attention over a paged KV cache (flash-decoding). Contract:
// kernels/README.md. One block of 4 warps per (split, KV head, sequence) serves every query
// head of that KV head's GQA group, so each K/V row is read from memory once per group.
// Each warp walks every 4th token of the split with an online softmax per query head; the
// four warps merge through shared memory and write one unnormalised partial per
// (sequence, query head, split). hp_attn_decode_combine merges the splits.
#include "hotpath_common.cuh"

#define HP_DEC_THREADS 128
#define HP_DEC_WARPS 4
#define HP_DEC_MAX_GROUP 16
// "Minus infinity" that stays finite under fast math: exp(HP_NEG - x) == 0.
#define HP_NEG (-1.0e30f)

// D/32 consecutive elements of one K or V row: one vector load per lane.
template <typename T, int N>
struct alignas(sizeof(T) * N) HpLane {
  T v[N];
};

template <typename T, int D>
__device__ __forceinline__ void hp_attn_decode_impl(const T* __restrict__ q, const T* __restrict__ k_cache,
                                                    const T* __restrict__ v_cache, const int* __restrict__ block_table,
                                                    float* __restrict__ part_o, float* __restrict__ part_ml, int context,
                                                    int hq, int hkv, int page_size, int pages_per_seq, int splits) {
  constexpr int PER = D / 32;  // elements per lane
  const int split = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = hq / hkv;  // <= HP_DEC_MAX_GROUP (checked by the launcher)
  const float scale = rsqrtf((float)D);

  // Tokens of this split: [t0, t1), splits start on page boundaries.
  const int per_split = ((context + splits - 1) / splits + page_size - 1) / page_size * page_size;
  const int t0 = split * per_split;
  const int t1 = min(context, t0 + per_split);

  float qr[HP_DEC_MAX_GROUP][PER];
  float acc[HP_DEC_MAX_GROUP][PER];
  float m[HP_DEC_MAX_GROUP], l[HP_DEC_MAX_GROUP];
#pragma unroll
  for (int h = 0; h < HP_DEC_MAX_GROUP; ++h) {
    m[h] = HP_NEG;
    l[h] = 0.f;
#pragma unroll
    for (int j = 0; j < PER; ++j) {
      acc[h][j] = 0.f;
      qr[h][j] = (h < group) ? hp_to_float(q[((long long)b * hq + g * group + h) * D + lane * PER + j]) * scale : 0.f;
    }
  }

  for (int t = t0 + warp; t < t1; t += HP_DEC_WARPS) {
    const long long page = block_table[(long long)b * pages_per_seq + t / page_size];
    const long long row = ((page * page_size + t % page_size) * hkv + g) * D + lane * PER;
    const HpLane<T, PER> kv = *reinterpret_cast<const HpLane<T, PER>*>(k_cache + row);
    const HpLane<T, PER> vv = *reinterpret_cast<const HpLane<T, PER>*>(v_cache + row);
    float kf[PER], vf[PER];
#pragma unroll
    for (int j = 0; j < PER; ++j) {
      kf[j] = hp_to_float(kv.v[j]);
      vf[j] = hp_to_float(vv.v[j]);
    }
#pragma unroll
    for (int h = 0; h < HP_DEC_MAX_GROUP; ++h) {
      if (h < group) {
        float s = 0.f;
#pragma unroll
        for (int j = 0; j < PER; ++j) s = fmaf(qr[h][j], kf[j], s);
        s = hp_warp_sum(s);
        const float m_new = fmaxf(m[h], s);
        const float corr = __expf(m[h] - m_new);
        const float p = __expf(s - m_new);
        l[h] = l[h] * corr + p;
#pragma unroll
        for (int j = 0; j < PER; ++j) acc[h][j] = fmaf(acc[h][j], corr, p * vf[j]);
        m[h] = m_new;
      }
    }
  }

  // Merge the four warps.
  __shared__ float s_acc[HP_DEC_WARPS][HP_DEC_MAX_GROUP][D];
  __shared__ float s_m[HP_DEC_WARPS][HP_DEC_MAX_GROUP];
  __shared__ float s_l[HP_DEC_WARPS][HP_DEC_MAX_GROUP];
#pragma unroll
  for (int h = 0; h < HP_DEC_MAX_GROUP; ++h) {
    if (h < group) {
#pragma unroll
      for (int j = 0; j < PER; ++j) s_acc[warp][h][lane * PER + j] = acc[h][j];
      if (lane == 0) {
        s_m[warp][h] = m[h];
        s_l[warp][h] = l[h];
      }
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < group * D; idx += blockDim.x) {
    const int h = idx / D, e = idx % D;
    float mx = HP_NEG;
#pragma unroll
    for (int w = 0; w < HP_DEC_WARPS; ++w) mx = fmaxf(mx, s_m[w][h]);
    float o = 0.f, sum = 0.f;
#pragma unroll
    for (int w = 0; w < HP_DEC_WARPS; ++w) {
      const float f = (s_l[w][h] > 0.f) ? __expf(s_m[w][h] - mx) : 0.f;
      o += f * s_acc[w][h][e];
      sum += f * s_l[w][h];
    }
    const long long r = ((long long)b * hq + g * group + h) * splits + split;
    part_o[r * D + e] = o;
    if (e == 0) {
      part_ml[r * 2 + 0] = mx;
      part_ml[r * 2 + 1] = sum;
    }
  }
}

// o[b][h][e] = sum_s e^{m_s - M} o_s[e] / sum_s e^{m_s - M} l_s.
template <typename T>
__device__ __forceinline__ void hp_attn_decode_combine_impl(const float* __restrict__ part_o,
                                                            const float* __restrict__ part_ml, T* __restrict__ o,
                                                            int hq, int splits, int d) {
  const int h = blockIdx.x, b = blockIdx.y, e = threadIdx.x;
  if (e >= d) return;
  const long long base = ((long long)b * hq + h) * splits;
  float mx = HP_NEG;
  for (int s = 0; s < splits; ++s) mx = fmaxf(mx, part_ml[(base + s) * 2]);
  float num = 0.f, den = 0.f;
  for (int s = 0; s < splits; ++s) {
    const float l = part_ml[(base + s) * 2 + 1];
    const float f = (l > 0.f) ? __expf(part_ml[(base + s) * 2] - mx) : 0.f;
    num += f * part_o[(base + s) * d + e];
    den += f * l;
  }
  o[((long long)b * hq + h) * d + e] = hp_from_float<T>(den > 0.f ? num / den : 0.f);
}

#define HP_DECODE(SUFFIX, T, D) \
  extern "C" __global__ void __launch_bounds__(HP_DEC_THREADS) hp_attn_decode_##SUFFIX##_d##D( \
      const T* __restrict__ q, const T* __restrict__ k_cache, const T* __restrict__ v_cache, \
      const int* __restrict__ block_table, float* __restrict__ part_o, float* __restrict__ part_ml, int batch, \
      int context, int hq, int hkv, int page_size, int pages_per_seq, int splits) { \
    (void)batch; \
    hp_attn_decode_impl<T, D>(q, k_cache, v_cache, block_table, part_o, part_ml, context, hq, hkv, page_size, \
                              pages_per_seq, splits); \
  }
#define HP_COMBINE(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(128) hp_attn_decode_combine_##SUFFIX( \
      const float* __restrict__ part_o, const float* __restrict__ part_ml, T* __restrict__ o, int batch, int hq, \
      int splits, int d) { \
    (void)batch; \
    hp_attn_decode_combine_impl<T>(part_o, part_ml, o, hq, splits, d); \
  }

HP_DECODE(f32, float, 64)
HP_DECODE(f32, float, 128)
HP_DECODE(f16, f16_t, 64)
HP_DECODE(f16, f16_t, 128)
HP_DECODE(bf16, bf16_t, 64)
HP_DECODE(bf16, bf16_t, 128)
HP_COMBINE(f32, float)
HP_COMBINE(f16, f16_t)
HP_COMBINE(bf16, bf16_t)
