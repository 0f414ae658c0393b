// attn_decode.cu — decode attention over a paged KV cache (flash-decoding), built to stream
// the cache at memory bandwidth. Contract and bandwidth reasoning: kernels/README.md.
//
// One block of 4 warps per (split, KV head, sequence) serves every query head of that KV
// head's GQA group, so each K/V row is read from memory once per group. G, the group padded
// to a power of two (1, 2, 4, 8, 16), is a compile-time parameter; the real group hq/hkv ≤ G
// comes at run time and padded heads are computed on zeros and never stored.
//
// Pipeline: the split's tokens are walked in tiles of TILE tokens (64; 32 for f32). A tile's
// K and V rows go to one stage of a ring of `stages` (1..4, chosen by the launch plan to fit
// the device's shared memory) in dynamic shared memory, by 16-byte cp.async copies: every
// thread copies one 16-byte chunk of PASSES rows of K and of V. While tile j is computed,
// tiles j+1 .. j+stages-1 are in flight, and the block-table entries of the next tile to be
// issued are already being loaded into registers (so a page lookup never stalls a copy).
// Rows are d·sizeof(T) bytes (a multiple of 128 B); chunk c of row r is stored at c ^ (r & 7)
// so ldmatrix phases and cp.async stores are bank-conflict free.
//
// Compute, per tile:
//  - tensor cores (NVIDIA, f16/bf16, G ≥ 4): warp w takes tokens [16w, 16w+16) of the tile.
//    S = Q·Kᵀ by mma.sync m16n8k16 with the group's query heads as the 16 rows (Q staged in
//    shared memory once, A fragments by ldmatrix), online softmax in f32 (exp2, scale·log2e
//    folded in), P reused in registers as the A operand of O += P·V (V fragments by
//    ldmatrix.trans). Each warp keeps its own (max, sum, O) over its token subset.
//  - CUDA cores (G ≤ 2, f32, and HIP): warps split the heads (min(G,4) ways) and the tokens
//    (the rest); a token's row is spread over D·sizeof(T)/16 lanes (16 bytes each, at most
//    32 lanes), so a warp processes 32/lanes tokens at once; dot products reduce over the
//    token's lanes by xor shuffles; online softmax per lane, merged across lanes at the end.
// The warps merge through shared memory (reusing the ring). With one split the block writes
// the normalised output; otherwise an unnormalised partial per (sequence, head, split) with
// (max·scale·log2e, sum), and hp_attn_decode_combine_* merges the splits.
//
// fp8 cache (hp_attn_decode_*_fp8kv_*, vLLM's kv_cache_dtype="fp8"): K and V hold e4m3 codes
// of the device's encoding (OCP; e4m3fnuz on gfx94x, HP_FP8_FNUZ) with one f32 scale per KV head (k_scale, v_scale, the last two arguments). The ring
// copies the codes as they are: a 16-byte vector is 16 tokens' elements instead of 8, a
// stage half the bytes of a 2-byte cache (the plan sizes it the same way). The block's KV
// head is fixed, so it loads its two scales once: scores are (q·code)·k_scale (k_scale folded
// into q on the CUDA cores, into the scores after the mma on tensor cores) and the output
// is (Σ p·code)·v_scale, applied at the merge. Codes are decoded exactly where they are used:
// hp_fp8_e4m3_to_float on the CUDA cores; on tensor cores pairwise through the f16 with the
// code's bits (its value·2⁻⁸), widened and rounded to T (exact: every e4m3 value is a normal
// f16 and bf16). Fragments come from plain shared loads there, not ldmatrix (a byte is not
// a b16): K as two 2-byte loads per register; V as one 4-byte load per token row and four
// n8 blocks, so n8 block 4j + i holds the head columns 32j + 4n + i (n = 0..7), which the
// merge puts back in place. The combine is the dtype's (partials are f32 either way).
#include "hotpath_common.cuh"

#define HP_DEC_THREADS 128
#define HP_DEC_WARPS 4
#define HP_LOG2E 1.4426950408889634f

// Compile-time layout of one instantiation, T for q and o, KT for the cache (T, or unsigned char
// for fp8 codes); the launch plan (crates/core/src/launch_plan/decode.rs) computes the same numbers.
template <typename T, typename KT, int D, int G>
struct DecCfg {
  static constexpr bool F8 = sizeof(KT) == 1;                    // an fp8 e4m3 cache
  static constexpr int TILE = sizeof(KT) == 4 ? 32 : 64;          // tokens per stage
  static constexpr int ROW = D * (int)sizeof(KT);                // bytes of one K or V row
  static constexpr int QROW = D * (int)sizeof(T);                // bytes of one query row
  static constexpr int CH = ROW / 16;                            // 16-byte chunks per row, 4..64
  static constexpr int STAGE = 2 * TILE * ROW;                   // K tile, then V tile
  static constexpr int RPP = HP_DEC_THREADS / CH;                // rows one pass of the block copies
  static constexpr int PASSES = TILE / RPP;                      // passes per tile (K and V each)
  static constexpr int MERGE = HP_DEC_WARPS * G * D * 4 + HP_DEC_WARPS * G * 2 * 4;
#if defined(HP_MMA) && !defined(HP_HIP)
  static constexpr bool MMA = sizeof(T) == 2 && G >= 4;
#else
  static constexpr bool MMA = false;
#endif
  static constexpr int QBYTES = MMA ? 16 * QROW : 0;             // Q tile, tensor-core path
  // CUDA-core path: warps over heads (WH) × warps over tokens (WT), lanes per token (LPT).
  static constexpr int WH = G < HP_DEC_WARPS ? G : HP_DEC_WARPS;
  static constexpr int WT = HP_DEC_WARPS / WH;
  static constexpr int HPW = G / WH;                             // heads per warp
  static constexpr int LPT = CH < 32 ? CH : 32;
  static constexpr int VCH = CH / LPT;                           // chunks per lane: 1 or 2
  static constexpr int VEC = VCH * 16 / (int)sizeof(KT);         // elements per lane
  static constexpr int TPW = 32 / LPT;                           // tokens a warp takes at once
  static_assert(CH >= 4 && HP_DEC_THREADS % CH == 0 && TILE % RPP == 0, "tile layout");
  static_assert((TILE / WT) % TPW == 0, "token split");
};

// Byte offset of 16-byte chunk c of row r in a tile of ROW-byte rows. Rows of 64 bytes (fp8,
// D = 64) share a 128-byte line in pairs: their 4 chunks are permuted by the line's index.
template <int ROW>
__device__ __forceinline__ int dec_swz(int r, int c) {
  static_assert(ROW == 64 || ROW % 128 == 0, "row size");
  if constexpr (ROW == 64) return r * ROW + ((c ^ ((r >> 1) & 3)) << 4);
  return r * ROW + ((c ^ (r & 7)) << 4);
}

// One cache element as f32: T widened, or an e4m3 code decoded exactly.
template <typename X>
__device__ __forceinline__ float dec_elem(X x) {
  return hp_to_float(x);
}
__device__ __forceinline__ float dec_elem(unsigned char c) { return hp_fp8_e4m3_to_float(c); }

// Block-table entries of the rows this thread copies in tile `tile` (page 0 past the end), into
// pg[PASSES]. (Arrays are passed as pointers: ROCm 5.2's hipRTC misparses a reference to an
// array whose bound names a member of a class template; inlined, they stay in registers.)
template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void dec_lookup(int* pg, const int* __restrict__ table,
                                           int tile, int t0, int t1, int page_size, int tid) {
  using C = DecCfg<T, KT, D, G>;
#pragma unroll
  for (int i = 0; i < C::PASSES; ++i) {
    const int t = t0 + tile * C::TILE + tid / C::CH + i * C::RPP;
    pg[i] = t < t1 ? table[t / page_size] : 0;
  }
}

// cp.async copies of tile `tile` (K then V rows; rows past t1 zero-filled) into `stage`.
template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void dec_issue(unsigned char* stage, const int* pg,
                                          const KT* __restrict__ k_cache, const KT* __restrict__ v_cache, int tile,
                                          int t0, int t1, int page_size, int hkv, int g, int tid) {
  using C = DecCfg<T, KT, D, G>;
  const int c = tid % C::CH;
#pragma unroll
  for (int i = 0; i < C::PASSES; ++i) {
    const int r = tid / C::CH + i * C::RPP;
    const int t = t0 + tile * C::TILE + r;
    const bool p = t < t1;
    const long long row = (((long long)pg[i] * page_size + t % page_size) * hkv + g) * D;
    const int dst = dec_swz<C::ROW>(r, c);
    const long long src = p ? row + c * (16 / (int)sizeof(KT)) : 0;
    hp_cp_async16(stage + dst, k_cache + src, p);
    hp_cp_async16(stage + C::TILE * C::ROW + dst, v_cache + src, p);
  }
}

// Wait until at most `pending` committed copy groups of this thread are in flight (0..2).
__device__ __forceinline__ void dec_wait(int pending) {
  if (pending <= 0)
    hp_cp_async_wait<0>();
  else if (pending == 1)
    hp_cp_async_wait<1>();
  else
    hp_cp_async_wait<2>();
}

// The merge area (reuses the ring after the last tile): per warp and head, O[D] and (m, l).
struct DecMerge {
  float* o;  // [HP_DEC_WARPS][G][D]
  float* m;  // [HP_DEC_WARPS][G]
  float* l;  // [HP_DEC_WARPS][G]
};

// ---- Tensor-core path (NVIDIA, f16/bf16, G >= 4) ----
#if defined(HP_MMA) && !defined(HP_HIP)
template <typename T, int D>
struct DecMmaState {
  float o[D / 8][4];  // C fragments of O columns [8nb, 8nb+8): rows g (0..1) and g+8 (2..3)
  float m[2];         // running max of the raw scores, rows g and g+8
  float l[2];         // this lane's part of the running sum
};

template <typename T, int D>
__device__ __forceinline__ void dec_mma_init(DecMmaState<T, D>& st) {
#pragma unroll
  for (int nb = 0; nb < D / 8; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) st.o[nb][e] = 0.f;
  st.m[0] = st.m[1] = HP_SCORE_NEG;
  st.l[0] = st.l[1] = 0.f;
}

// Two e4m3 codes (bits 0-7 and 16-23 of s) as one T pair register (first code low), exactly:
// each code's bits below its sign, moved up by 7 under the sign, are the f16 of its value·2⁻⁸
// (e4m3fnuz: value·2⁻⁷; subnormal codes as f16 subnormals), widened and scaled back by
// HP_FP8_F16_SCALE (256, or 128) in f32.
template <typename T>
__device__ __forceinline__ unsigned dec_fp8x2(unsigned s) {
  const unsigned h = ((s & 0x007f007fu) << 7) | ((s & 0x00800080u) << 8);
  const float lo = __half2float(__ushort_as_half((unsigned short)(h & 0xffffu))) * HP_FP8_F16_SCALE;
  const float hi = __half2float(__ushort_as_half((unsigned short)(h >> 16))) * HP_FP8_F16_SCALE;
  return hp_pack2(lo, hi, T());
}

// K B fragments of both n8 blocks from an fp8 tile, as ldmatrix gives them for T: token rows r
// and r + 8 (r = 16·warp + lane/4), elements 16kk + 2t, +1 (b0) and 16kk + 2t + 8, +9 (b1).
template <typename T, int ROW>
__device__ __forceinline__ void dec_fp8_kfrag(unsigned (&kb)[4], const unsigned char* ks, int r, int kk, int t) {
#pragma unroll
  for (int nb = 0; nb < 2; ++nb) {
    const unsigned char* p = ks + dec_swz<ROW>(r + 8 * nb, kk) + 2 * t;
    const unsigned lo = *reinterpret_cast<const unsigned short*>(p);
    const unsigned hi = *reinterpret_cast<const unsigned short*>(p + 8);
    kb[2 * nb] = dec_fp8x2<T>((lo & 0xffu) | ((lo & 0xff00u) << 8));
    kb[2 * nb + 1] = dec_fp8x2<T>((hi & 0xffu) | ((hi & 0xff00u) << 8));
  }
}

// One tile: tokens tok0 + [16w, 16w+16) of the tile at `stage`, valid below t1; k_sc is an fp8
// cache's K scale (unused otherwise).
template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void dec_mma_tile(DecMmaState<T, D>& st, const unsigned char* stage,
                                             const unsigned char* qs, int tok0, int t1, float sl2, float k_sc) {
  using C = DecCfg<T, KT, D, G>;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int kv0 = tok0 + warp * 16;
  if (kv0 >= t1) return;  // warp-uniform: nothing of this warp's 16 tokens is valid
  const unsigned char* ks = stage;
  const unsigned char* vs = stage + C::TILE * C::ROW;
  // S = Q·Kᵀ: 16 heads × 16 tokens = two n8 blocks (tokens 0-7, 8-15 of the warp's rows).
  float s[2][4];
#pragma unroll
  for (int nb = 0; nb < 2; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[nb][e] = 0.f;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    unsigned qa[4], kb[4];
    // Q A fragment: rows (lane & 15), chunk 2kk + (lane >> 4) (as attn_prefill.cu).
    hp_ldsm_x4(qa, qs + dec_swz<C::QROW>(lane & 15, 2 * kk + (lane >> 4)));
    if constexpr (C::F8) {
      dec_fp8_kfrag<T, C::ROW>(kb, ks, warp * 16 + g, kk, t);
    } else {
      // K B fragments of both n8 blocks: token rows (lane & 7) + 8(lane >> 4), chunk
      // 2kk + ((lane >> 3) & 1): matrices {tok 0-7, d 0-7}, {0-7, 8-15}, {8-15, 0-7}, {8-15, 8-15}.
      hp_ldsm_x4(kb, ks + dec_swz<C::ROW>(warp * 16 + (lane & 7) + ((lane >> 4) << 3), 2 * kk + ((lane >> 3) & 1)));
    }
    hp_mma(s[0], qa, kb[0], kb[1], T());
    hp_mma(s[1], qa, kb[2], kb[3], T());
  }
  if constexpr (C::F8) {
#pragma unroll
    for (int nb = 0; nb < 2; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nb][e] *= k_sc;  // (q·code)·k_scale
  }
  // s[nb][e]: head row g + 8(e >> 1), token kv0 + 8nb + 2t + (e & 1).
  hp_mma_softmax_step(s, st.m, st.l, st.o, kv0, t1, sl2);
  // P as the A fragment of one k16 step (16 tokens): a0a1 = s[0][0..1], a2a3 = s[0][2..3],
  // a4a5 = s[1][0..1], a6a7 = s[1][2..3].
  unsigned pf[4];
  pf[0] = hp_pack2(s[0][0], s[0][1], T());
  pf[1] = hp_pack2(s[0][2], s[0][3], T());
  pf[2] = hp_pack2(s[1][0], s[1][1], T());
  pf[3] = hp_pack2(s[1][2], s[1][3], T());
  if constexpr (C::F8) {
    // O += P·code: per 32 head columns j, one 4-byte load from each of the lane's token rows
    // 2t, 2t+1 (b0) and 2t+8, 2t+9 (b1) at columns 32j + 4g .. +3; byte i feeds n8 block 4j + i.
#pragma unroll
    for (int j = 0; j < D / 32; ++j) {
      unsigned w[4];
#pragma unroll
      for (int x = 0; x < 4; ++x) {
        const int r = warp * 16 + 2 * t + (x & 1) + 8 * (x >> 1);
        w[x] = *reinterpret_cast<const unsigned*>(vs + dec_swz<C::ROW>(r, 2 * j + (g >> 2)) + 4 * (g & 3));
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const unsigned b0 = dec_fp8x2<T>(((w[0] >> (8 * i)) & 0xffu) | (((w[1] >> (8 * i)) & 0xffu) << 16));
        const unsigned b1 = dec_fp8x2<T>(((w[2] >> (8 * i)) & 0xffu) | (((w[3] >> (8 * i)) & 0xffu) << 16));
        hp_mma(st.o[4 * j + i], pf, b0, b1, T());
      }
    }
  } else {
    // O += P·V: V B fragments for two n8 blocks of d per ldmatrix.x4.trans: token rows
    // (lane & 7) + 8((lane >> 3) & 1), chunk 2dp + (lane >> 4).
#pragma unroll
    for (int dp = 0; dp < D / 16; ++dp) {
      unsigned vb[4];
      hp_ldsm_x4_t(vb, vs + dec_swz<C::ROW>(warp * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), 2 * dp + (lane >> 4)));
      hp_mma(st.o[2 * dp], pf, vb[0], vb[1], T());
      hp_mma(st.o[2 * dp + 1], pf, vb[2], vb[3], T());
    }
  }
}

// The warp's state into the merge area: rows g and g+8 where they are real heads (an fp8
// tile's n8 block 4j + i holding head columns 32j + 4n + i).
template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void dec_mma_stash(DecMmaState<T, D>& st, const DecMerge& mg, int group) {
  using C = DecCfg<T, KT, D, G>;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    st.l[r] += hp_shfl_xor(st.l[r], 1);
    st.l[r] += hp_shfl_xor(st.l[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int h = g + 8 * r;
    if (h < group && h < G) {
      float* row = mg.o + ((long long)warp * G + h) * D;
#pragma unroll
      for (int nb = 0; nb < D / 8; ++nb) {
        const int c0 = C::F8 ? 32 * (nb >> 2) + 8 * t + (nb & 3) : nb * 8 + 2 * t;
        row[c0] = st.o[nb][2 * r];
        row[c0 + (C::F8 ? 4 : 1)] = st.o[nb][2 * r + 1];
      }
      if (t == 0) {
        mg.m[warp * G + h] = st.m[r];
        mg.l[warp * G + h] = st.l[r];
      }
    }
  }
}
#endif

// ---- CUDA-core path ----
template <typename T, typename KT, int D, int G>
struct DecScalarState {
  float q[DecCfg<T, KT, D, G>::HPW][DecCfg<T, KT, D, G>::VEC];
  float o[DecCfg<T, KT, D, G>::HPW][DecCfg<T, KT, D, G>::VEC];
  float m[DecCfg<T, KT, D, G>::HPW];
  float l[DecCfg<T, KT, D, G>::HPW];
};

// VEC elements of one row at chunks [part·VCH, part·VCH + VCH) of a swizzled tile, as f32.
template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void dec_row_vec(float* out, const unsigned char* tile, int r, int part) {
  using C = DecCfg<T, KT, D, G>;
  constexpr int PER = 16 / (int)sizeof(KT);
#pragma unroll
  for (int v = 0; v < C::VCH; ++v) {
    const uint4 raw = *reinterpret_cast<const uint4*>(tile + dec_swz<C::ROW>(r, part * C::VCH + v));
    const KT* e = reinterpret_cast<const KT*>(&raw);
#pragma unroll
    for (int x = 0; x < PER; ++x) out[v * PER + x] = dec_elem(e[x]);
  }
}

// The lane's query elements (times k_sc, an fp8 cache's K scale, else 1) and empty state.
template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void dec_scalar_init(DecScalarState<T, KT, D, G>& st, const T* __restrict__ q, int b,
                                                int hq, int g, int group, float k_sc) {
  using C = DecCfg<T, KT, D, G>;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wh = warp % C::WH, part = lane % C::LPT;
#pragma unroll
  for (int i = 0; i < C::HPW; ++i) {
    const int h = wh + C::WH * i;
    st.m[i] = HP_SCORE_NEG;
    st.l[i] = 0.f;
#pragma unroll
    for (int e = 0; e < C::VEC; ++e) {
      st.o[i][e] = 0.f;
      st.q[i][e] = h < group ? hp_to_float(q[((long long)b * hq + g * group + h) * D + part * C::VEC + e]) * k_sc : 0.f;
    }
  }
}

template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void dec_scalar_tile(DecScalarState<T, KT, D, G>& st, const unsigned char* stage, int tok0,
                                                int t1, float sl2) {
  using C = DecCfg<T, KT, D, G>;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wt = warp / C::WH, slot = lane / C::LPT, part = lane % C::LPT;
  constexpr int SPAN = C::TILE / C::WT;  // tokens of the tile this warp takes
  if (tok0 + wt * SPAN >= t1) return;    // warp-uniform
#pragma unroll 2
  for (int i = 0; i < SPAN / C::TPW; ++i) {
    const int r = wt * SPAN + i * C::TPW + slot;
    const bool valid = tok0 + r < t1;
    float kf[C::VEC], vf[C::VEC];
    dec_row_vec<T, KT, D, G>(kf, stage, r, part);
    dec_row_vec<T, KT, D, G>(vf, stage + C::TILE * C::ROW, r, part);
#pragma unroll
    for (int h = 0; h < C::HPW; ++h) {
      float s = 0.f;
#pragma unroll
      for (int e = 0; e < C::VEC; ++e) s = fmaf(st.q[h][e], kf[e], s);
#pragma unroll
      for (int off = C::LPT / 2; off > 0; off >>= 1) s += hp_shfl_xor(s, off);
      if (valid) {
        const float m_new = fmaxf(st.m[h], s);
        const float a = exp2f((st.m[h] - m_new) * sl2);
        const float p = exp2f((s - m_new) * sl2);
        st.l[h] = st.l[h] * a + p;
#pragma unroll
        for (int e = 0; e < C::VEC; ++e) st.o[h][e] = fmaf(st.o[h][e], a, p * vf[e]);
        st.m[h] = m_new;
      }
    }
  }
}

// Merge the lanes of different token slots, then stash into the merge area.
template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void dec_scalar_stash(DecScalarState<T, KT, D, G>& st, const DecMerge& mg, int group,
                                                 float sl2) {
  using C = DecCfg<T, KT, D, G>;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int wh = warp % C::WH, part = lane % C::LPT;
#pragma unroll
  for (int off = C::LPT; off < 32; off <<= 1) {
#pragma unroll
    for (int h = 0; h < C::HPW; ++h) {
      const float m2 = hp_shfl_xor(st.m[h], off), l2 = hp_shfl_xor(st.l[h], off);
      const float mx = fmaxf(st.m[h], m2);
      const float a = st.l[h] > 0.f ? exp2f((st.m[h] - mx) * sl2) : 0.f;
      const float b = l2 > 0.f ? exp2f((m2 - mx) * sl2) : 0.f;
#pragma unroll
      for (int e = 0; e < C::VEC; ++e) st.o[h][e] = a * st.o[h][e] + b * hp_shfl_xor(st.o[h][e], off);
      st.l[h] = a * st.l[h] + b * l2;
      st.m[h] = mx;
    }
  }
  if (lane < C::LPT) {
#pragma unroll
    for (int i = 0; i < C::HPW; ++i) {
      const int h = wh + C::WH * i;
      if (h < group) {
        float* row = mg.o + ((long long)warp * G + h) * D + part * C::VEC;
#pragma unroll
        for (int e = 0; e < C::VEC; ++e) row[e] = st.o[i][e];
        if (part == 0) {
          mg.m[warp * G + h] = st.m[i];
          mg.l[warp * G + h] = st.l[i];
        }
      }
    }
  }
}

// k_scale, v_scale: an fp8 cache's scales per KV head (read only when KT is the code type).
template <typename T, typename KT, int D, int G>
__device__ __forceinline__ void hp_attn_decode_impl(const T* __restrict__ q, const KT* __restrict__ k_cache,
                                                    const KT* __restrict__ v_cache, const int* __restrict__ block_table,
                                                    const int* __restrict__ seq_lens, float* __restrict__ part_o,
                                                    float* __restrict__ part_ml, T* __restrict__ o, int hq, int hkv,
                                                    int page_size, int pages_per_seq, int splits, int chunk,
                                                    int stages, const float* __restrict__ k_scale,
                                                    const float* __restrict__ v_scale) {
  using C = DecCfg<T, KT, D, G>;
  extern __shared__ __align__(128) unsigned char hp_dec_smem[];
  const int split = blockIdx.x, g = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x;
  const int group = hq / hkv;  // <= G (the launcher picks the instantiation)
  const float sl2 = rsqrtf((float)D) * HP_LOG2E;
  const int len = seq_lens[b];
  const int t0 = split * chunk;
  const int t1 = min(len, t0 + chunk);
  const int n_tiles = t1 > t0 ? (t1 - t0 + C::TILE - 1) / C::TILE : 0;
  const int* table = block_table + (long long)b * pages_per_seq;
  const int ring = stages * C::STAGE;
  unsigned char* qs = hp_dec_smem + (ring > C::MERGE ? ring : C::MERGE);
  // An fp8 cache's scales: the block's KV head g is fixed, so both are loaded once.
  float k_sc = 1.f, v_sc = 1.f;
  if constexpr (C::F8) {
    k_sc = k_scale[g];
    v_sc = v_scale[g];
  }

#if defined(HP_MMA) && !defined(HP_HIP)
  DecMmaState<T, D> mst;
  if constexpr (C::MMA) {
    // Q tile: 16 rows (real heads, then zeros) × QROW/16 chunks, in the first copy group.
    constexpr int QCH = C::QROW / 16;
    for (int id = tid; id < 16 * QCH; id += HP_DEC_THREADS) {
      const int r = id / QCH, c = id % QCH;
      const bool p = r < group;
      const T* src = q + (p ? ((long long)b * hq + g * group + r) * D + c * 8 : 0);
      hp_cp_async16(qs + dec_swz<C::QROW>(r, c), src, p);
    }
    dec_mma_init<T, D>(mst);
  }
#endif
  DecScalarState<T, KT, D, G> sst;
  if constexpr (!C::MMA) dec_scalar_init<T, KT, D, G>(sst, q, b, hq, g, group, k_sc);
  hp_cp_async_commit();

  // Prologue: tiles 0 .. stages-2 in flight, the table entries of tile stages-1 loading.
  int pg[C::PASSES];
  for (int s = 0; s + 1 < stages; ++s) {
    if (s < n_tiles) {
      dec_lookup<T, KT, D, G>(pg, table, s, t0, t1, page_size, tid);
      dec_issue<T, KT, D, G>(hp_dec_smem + s * C::STAGE, pg, k_cache, v_cache, s, t0, t1, page_size, hkv, g, tid);
    }
    hp_cp_async_commit();
  }
  if (stages > 1 && stages - 1 < n_tiles) dec_lookup<T, KT, D, G>(pg, table, stages - 1, t0, t1, page_size, tid);

  for (int j = 0; j < n_tiles; ++j) {
    if (stages == 1) {
      __syncthreads();  // every warp is done with the previous tile
      dec_lookup<T, KT, D, G>(pg, table, j, t0, t1, page_size, tid);
      dec_issue<T, KT, D, G>(hp_dec_smem, pg, k_cache, v_cache, j, t0, t1, page_size, hkv, g, tid);
      hp_cp_async_commit();
    }
    dec_wait(stages - 2);  // tile j (and the Q tile) has landed for this thread ...
    __syncthreads();       // ... and for every thread; every warp is done with tile j-1
    if (stages > 1) {
      const int nt = j + stages - 1;  // into the slot of tile j-1
      if (nt < n_tiles) {
        dec_issue<T, KT, D, G>(hp_dec_smem + (nt % stages) * C::STAGE, pg, k_cache, v_cache, nt, t0, t1, page_size,
                               hkv, g, tid);
        if (nt + 1 < n_tiles) dec_lookup<T, KT, D, G>(pg, table, nt + 1, t0, t1, page_size, tid);
      }
      hp_cp_async_commit();
    }
    const unsigned char* stage = hp_dec_smem + (j % stages) * C::STAGE;
    const int tok0 = t0 + j * C::TILE;
#if defined(HP_MMA) && !defined(HP_HIP)
    if constexpr (C::MMA) dec_mma_tile<T, KT, D, G>(mst, stage, qs, tok0, t1, sl2, k_sc);
#endif
    if constexpr (!C::MMA) dec_scalar_tile<T, KT, D, G>(sst, stage, tok0, t1, sl2);
  }
  hp_cp_async_wait<0>();
  __syncthreads();  // the ring is free: reuse it for the merge

  DecMerge mg;
  mg.o = reinterpret_cast<float*>(hp_dec_smem);
  mg.m = mg.o + HP_DEC_WARPS * G * D;
  mg.l = mg.m + HP_DEC_WARPS * G;
#if defined(HP_MMA) && !defined(HP_HIP)
  if constexpr (C::MMA) dec_mma_stash<T, KT, D, G>(mst, mg, group);
#endif
  if constexpr (!C::MMA) dec_scalar_stash<T, KT, D, G>(sst, mg, group, sl2);
  __syncthreads();

  // Merge the warps that hold each head: all four on the tensor-core path, the WT
  // token-warps w ≡ h (mod WH) on the CUDA-core path.
  constexpr int OWNERS = C::MMA ? HP_DEC_WARPS : C::WT;
  constexpr int STRIDE = C::MMA ? 1 : C::WH;
  for (int idx = tid; idx < group * D; idx += HP_DEC_THREADS) {
    const int h = idx / D, e = idx % D;
    const int w0 = C::MMA ? 0 : h % C::WH;
    float mx = HP_SCORE_NEG;
#pragma unroll
    for (int k = 0; k < OWNERS; ++k) {
      const int w = w0 + k * STRIDE;
      if (mg.l[w * G + h] > 0.f) mx = fmaxf(mx, mg.m[w * G + h]);
    }
    float num = 0.f, den = 0.f;
#pragma unroll
    for (int k = 0; k < OWNERS; ++k) {
      const int w = w0 + k * STRIDE;
      const float l = mg.l[w * G + h];
      const float f = l > 0.f ? exp2f((mg.m[w * G + h] - mx) * sl2) : 0.f;
      num += f * mg.o[((long long)w * G + h) * D + e];
      den += f * l;
    }
    num *= v_sc;  // (Σ p·code)·v_scale for an fp8 cache
    const long long head = (long long)b * hq + g * group + h;
    if (splits == 1) {
      o[head * D + e] = hp_from_float<T>(den > 0.f ? num / den : 0.f);
    } else {
      const long long r = head * splits + split;
      part_o[r * D + e] = num;
      if (e == 0) {
        part_ml[r * 2 + 0] = mx * sl2;
        part_ml[r * 2 + 1] = den;
      }
    }
  }
}

// The splits' merge, hotpath_common.cuh's hp_split_combine, with its shared memory.
#define HP_DEC_MAX_SPLITS 256
template <typename T>
__device__ __forceinline__ void hp_attn_decode_combine_impl(const float* __restrict__ part_o,
                                                            const float* __restrict__ part_ml, T* __restrict__ o,
                                                            int hq, int splits, int d) {
  __shared__ float s_w[HP_DEC_MAX_SPLITS];
  __shared__ float s_inv[1];
  hp_split_combine<T>(part_o, part_ml, o, hq, splits, d, s_w, s_inv);
}

#define HP_DECODE(SUFFIX, T, D, G) \
  extern "C" __global__ void __launch_bounds__(HP_DEC_THREADS) hp_attn_decode_##SUFFIX##_d##D##_g##G( \
      const T* __restrict__ q, const T* __restrict__ k_cache, const T* __restrict__ v_cache, \
      const int* __restrict__ block_table, const int* __restrict__ seq_lens, float* __restrict__ part_o, \
      float* __restrict__ part_ml, T* __restrict__ o, int batch, int hq, int hkv, int page_size, int pages_per_seq, \
      int splits, int chunk, int stages) { \
    (void)batch; \
    hp_attn_decode_impl<T, T, D, G>(q, k_cache, v_cache, block_table, seq_lens, part_o, part_ml, o, hq, hkv, \
                                    page_size, pages_per_seq, splits, chunk, stages, nullptr, nullptr); \
  }
// The fp8-cache form: e4m3 codes in k_cache, v_cache and their per-KV-head scales last.
#define HP_DECODE_FP8(SUFFIX, T, D, G) \
  extern "C" __global__ void __launch_bounds__(HP_DEC_THREADS) hp_attn_decode_##SUFFIX##_fp8kv_d##D##_g##G( \
      const T* __restrict__ q, const unsigned char* __restrict__ k_cache, const unsigned char* __restrict__ v_cache, \
      const int* __restrict__ block_table, const int* __restrict__ seq_lens, float* __restrict__ part_o, \
      float* __restrict__ part_ml, T* __restrict__ o, int batch, int hq, int hkv, int page_size, int pages_per_seq, \
      int splits, int chunk, int stages, const float* __restrict__ k_scale, const float* __restrict__ v_scale) { \
    (void)batch; \
    hp_attn_decode_impl<T, unsigned char, D, G>(q, k_cache, v_cache, block_table, seq_lens, part_o, part_ml, o, hq, \
                                                hkv, page_size, pages_per_seq, splits, chunk, stages, k_scale, \
                                                v_scale); \
  }
#define HP_DECODE_GROUPS_OF(KIND, SUFFIX, T, D) \
  KIND(SUFFIX, T, D, 1) \
  KIND(SUFFIX, T, D, 2) \
  KIND(SUFFIX, T, D, 4) \
  KIND(SUFFIX, T, D, 8) \
  KIND(SUFFIX, T, D, 16)
#define HP_DECODE_GROUPS(SUFFIX, T, D) \
  HP_DECODE_GROUPS_OF(HP_DECODE, SUFFIX, T, D) \
  HP_DECODE_GROUPS_OF(HP_DECODE_FP8, SUFFIX, T, D)
#define HP_COMBINE(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(256) hp_attn_decode_combine_##SUFFIX( \
      const float* __restrict__ part_o, const float* __restrict__ part_ml, T* __restrict__ o, int batch, int hq, \
      int splits, int d) { \
    (void)batch; \
    hp_attn_decode_combine_impl<T>(part_o, part_ml, o, hq, splits, d); \
  }

HP_DECODE_GROUPS(f32, float, 64)
HP_DECODE_GROUPS(f32, float, 128)
HP_DECODE_GROUPS(f32, float, 256)
HP_DECODE_GROUPS(f16, f16_t, 64)
HP_DECODE_GROUPS(f16, f16_t, 128)
HP_DECODE_GROUPS(f16, f16_t, 256)
HP_DECODE_GROUPS(bf16, bf16_t, 64)
HP_DECODE_GROUPS(bf16, bf16_t, 128)
HP_DECODE_GROUPS(bf16, bf16_t, 256)
HP_COMBINE(f32, float)
HP_COMBINE(f16, f16_t)
HP_COMBINE(bf16, bf16_t)
