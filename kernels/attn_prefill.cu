// attn_prefill.cu — FlashAttention-2 forward for prefill: o = softmax(scale·q·kᵀ [+causal mask])·v.
//
// Layouts: q, o [batch, seq, hq, d]; k, v [batch, seq, hkv, d] (token stride hq·d resp.
// hkv·d). GQA: query head h reads KV head h / (hq / hkv).
//
// Geometry (README contract): grid (⌈seq/64⌉, hq, batch), block 128 = 4 warps; a block owns
// 64 query rows of one (batch, head), warp w owns rows [16w, 16w+16).
//   Q tile: copied to shared memory once, then held in registers as m16k16 A fragments.
//   KV loop: tiles of 64 keys, only up to the diagonal tile when causal; the diagonal tile
//     and the ragged last tile are masked (key > query, key ≥ seq → −inf). Rows past seq are
//     zero-filled on load and never stored.
//   S = Q·Kᵀ: mma m16n8k16 with K fragments by plain ldmatrix of the [key][d] tile.
//   Online softmax in f32 with exp2f, scale·log2(e) folded into one FMA.
//   O += P·V: P is rounded to T and reused directly as the A operand (the S accumulator
//     layout of two n8 blocks equals the A layout of one k16 step); V fragments come from
//     ldmatrix.trans of the [key][d] tile. O accumulates in f32 and is stored as T once.
// Shared memory (static): K tile 64×d + V tile 64×d = 16 KB (d=64) / 32 KB (d=128). The Q
//   tile is staged through the V buffer before the loop (Q lives in registers afterwards),
//   so d=128 stays well under the 48 KB static limit. Single K and V buffers with the
//   FlashAttention-2 overlap: V_j is fetched while S_j = Q·K_jᵀ and the softmax run, and
//   K_{j+1} is fetched while O += P·V_j runs.
//   Tile rows are d·2 bytes (a multiple of 128 B); 16-byte chunks are XOR-swizzled by
//   (row & 7) (see attn_swz) so ldmatrix phases and cp.async stores are conflict-free.
// Causal blocks are scheduled longest first (query tile = gridDim.x − 1 − blockIdx.x).
//
// HIP (AMD): the mma/ldmatrix/cp.async path (hp_mma, hp_ldsm_x4{,_t}, hp_cp_async16 of the
// common header) is NVIDIA's. MFMA targets (HP_MFMA: gfx908, gfx90a, gfx94x, gfx950) get
// their own FlashAttention-2 path with the same contract and the header's AMD hp_mma, see
// "MFMA path" below; other HIP targets compile a plain scalar body (one thread per query
// row, correct, slow).
#include "hotpath_common.cuh"

#define ATTN_BQ 64
#define ATTN_BKV 64
#define ATTN_THREADS 128
// −∞ without <math.h> (NVRTC has no INFINITY macro).
#define ATTN_NEG_INF __int_as_float(0xff800000)

#if !defined(HP_HIP)
// Element offset of (row, 16-byte chunk c) in a 64×D tile with D·2-byte rows (128 or 256 B,
// i.e. whole bank lines). Chunk c is stored at c ^ (row & 7) (only the low 3 bits change,
// so the chunk stays inside its row). An ldmatrix phase reads 8 consecutive rows (first row
// a multiple of 8) at one logical chunk → 8 distinct physical chunks mod 8 → 8 distinct
// 16-B bank groups; a cp.async phase (8 threads, 8 consecutive chunks of one row) likewise.
template <int D>
__device__ __forceinline__ int attn_swz(int row, int c) {
  return row * D + ((c ^ (row & 7)) << 3);
}

// Issue the cp.async copies of a 64-row tile: rows [row0, row0+64) of a [*, stride]-strided
// tensor (element offset of token t: base + t·stride), rows ≥ seq zero-filled.
template <typename T, int D>
__device__ __forceinline__ void attn_load_tile(T* s, const T* base, size_t stride, int row0,
                                               int seq, int tid) {
  constexpr int CH = D / 8;                              // 16-byte chunks per row
  constexpr int PER = ATTN_BKV * CH / ATTN_THREADS;      // chunks per thread: 4 or 8
#pragma unroll
  for (int i = 0; i < PER; ++i) {
    const int id = tid + i * ATTN_THREADS;
    const int r = id / CH;
    const int c = id % CH;
    const bool p = row0 + r < seq;
    const T* src = p ? base + (size_t)(row0 + r) * stride + c * 8 : base;
    hp_cp_async16(s + attn_swz<D>(r, c), src, p);
  }
}
#endif

#if defined(HP_MFMA)
// ---- MFMA path (AMD CDNA) ----
// Same contract: grid (⌈seq/64⌉, hq, batch), block 128 = 2 wavefronts of 64; wave w owns
// query rows [32w, 32w+32) of the block's 64 (two 16-row tiles), all on
// v_mfma_f32_16x16x16{f16,bf16_1k} (gfx908 bf16: two 16x16x8bf16).
//
// Layouts: hotpath_common.cuh (hp_mma); wave lane L, fr = L%16, fq = L/16.
// S = Q·Kᵀ is computed transposed, Sᵀ = K·Qᵀ (A = K tile [key][d], B = Qᵀ: both K-contiguous
// 8-byte LDS reads), so lane L holds S[query fr][keys 4fq..4fq+3] of a 16×16 tile. That is
// exactly the B-operand layout of Pᵀ[key][query] for O ← O + P·V, computed as
// Oᵀ = Vᵀ·Pᵀ (A = Vᵀ [d][key], read from a transposed V tile): P never leaves registers, and
// lane L holds O[query fr][d 4fq..4fq+3] → one 8-byte store per 16-column tile. A lane keeps
// the same query row in S and O, so the row max / sum need only the 4 lanes with equal fr
// (xor 16 and 32 within the wave64).
// Pipeline (no cp.async on AMD; loads go through registers): V_j is loaded while S_j and the
// softmax run, then written transposed to LDS; K_{j+1} is loaded while O += P·V_j runs.
// LDS: K tile [64][D] (also stages Q before the loop) and Vᵀ tile [D][64], unpadded:
// 16 + 16 KB at d = 128 (two blocks fit a CU's 64 KB), 8 + 8 KB at d = 64. Rows are whole
// multiples of 128 B, so the 8-byte unit u of row r is stored at u ^ (r & 15) (attn_swz8):
// the 16 rows of a fragment read (same logical unit) land on 16 distinct 8-byte bank pairs.

// Element offset of 8-byte unit u (4 elements) of row r in a tile of RU units per row
// (RU a multiple of 16: the XOR stays inside the row).
template <int RU>
__device__ __forceinline__ int attn_swz8(int r, int u) {
  return r * RU * 4 + ((u ^ (r & 15)) << 2);
}

// Rows [row0, row0+64) of a [*, stride]-strided tensor → registers, 16-byte chunks
// (chunk id = tid + 128 i → row id / (D/8), chunk id % (D/8)); rows ≥ seq are zero.
template <typename T, int D>
__device__ __forceinline__ void attn_fetch(uint4 (&r)[D / 16], const T* base, size_t stride,
                                           int row0, int seq, int tid) {
  constexpr int CH = D / 8;
#pragma unroll
  for (int i = 0; i < D / 16; ++i) {
    const int id = tid + i * ATTN_THREADS;
    const int row = id / CH;
    const uint4 zero = {0u, 0u, 0u, 0u};
    r[i] = row0 + row < seq
               ? *reinterpret_cast<const uint4*>(base + (size_t)(row0 + row) * stride + (id % CH) * 8)
               : zero;
  }
}
// Registers → row-major swizzled [64][D] LDS tile (chunk c = units 2c, 2c+1: two 8-byte
// stores, the swizzle may swap them).
template <int D>
__device__ __forceinline__ void attn_stash_rows(unsigned short* s, const uint4 (&r)[D / 16], int tid) {
  constexpr int CH = D / 8;
#pragma unroll
  for (int i = 0; i < D / 16; ++i) {
    const int id = tid + i * ATTN_THREADS;
    const int row = id / CH;
    const int c = id % CH;
    const unsigned lo[2] = {r[i].x, r[i].y}, hi[2] = {r[i].z, r[i].w};
    __builtin_memcpy(__builtin_assume_aligned(s + attn_swz8<D / 4>(row, 2 * c), 8), lo, 8);
    __builtin_memcpy(__builtin_assume_aligned(s + attn_swz8<D / 4>(row, 2 * c + 1), 8), hi, 8);
  }
}
// Registers → transposed swizzled [D][64] LDS tile (eight 2-byte stores per chunk).
template <int D>
__device__ __forceinline__ void attn_stash_cols(unsigned short* s, const uint4 (&r)[D / 16], int tid) {
  constexpr int CH = D / 8;
#pragma unroll
  for (int i = 0; i < D / 16; ++i) {
    const int id = tid + i * ATTN_THREADS;
    const int key = id / CH;
    const int d0 = (id % CH) * 8;
    const unsigned w[4] = {r[i].x, r[i].y, r[i].z, r[i].w};
#pragma unroll
    for (int x = 0; x < 8; ++x)
      s[attn_swz8<ATTN_BKV / 4>(d0 + x, key >> 2) + (key & 3)] = (unsigned short)(w[x / 2] >> (16 * (x % 2)));
  }
}
#endif

// A pair of adjacent output elements, stored with one 32-bit store.
template <typename T>
struct alignas(2 * sizeof(T)) attn_pair {
  T x, y;
};

// Four adjacent output elements, stored with one 64-bit store (MFMA path).
template <typename T>
struct alignas(4 * sizeof(T)) attn_quad {
  T v[4];
};

template <typename T, int D>
__device__ __forceinline__ void attn_prefill(const T* __restrict__ q, const T* __restrict__ k,
                                             const T* __restrict__ v, T* __restrict__ o,
                                             int seq, int hq, int hkv, int causal,
                                             float scale) {
  const int qt = gridDim.x - 1 - blockIdx.x;  // longest causal tiles first
  const int h = blockIdx.y;
  const int b = blockIdx.z;
  const int kvh = h / (hq / hkv);
  const int q0 = qt * ATTN_BQ;
  const size_t q_stride = (size_t)hq * D;  // elements between consecutive tokens
  const size_t kv_stride = (size_t)hkv * D;
  const T* qb = q + ((size_t)b * seq * hq + h) * D;  // token 0 of this (batch, head)
  T* ob = o + ((size_t)b * seq * hq + h) * D;
  const T* kb = k + ((size_t)b * seq * hkv + kvh) * D;
  const T* vb = v + ((size_t)b * seq * hkv + kvh) * D;
  // KV tiles to visit: all, or up to and including the diagonal one when causal.
  int n_tiles = (seq + ATTN_BKV - 1) / ATTN_BKV;
  if (causal && qt + 1 < n_tiles) n_tiles = qt + 1;
  const float sl2 = scale * 1.4426950408889634f;  // scale · log2(e)

#if !defined(HP_HIP)
  __shared__ __align__(128) T sK[ATTN_BKV * D];
  __shared__ __align__(128) T sV[ATTN_BKV * D];  // also stages the Q tile at the start
  static_assert(sizeof(sK) + sizeof(sV) <= HP_SMEM_LIMIT, "attention tiles exceed HP_SMEM_LIMIT");

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int g = lane >> 2;  // fragment row group (PTX groupID)
  const int t = lane & 3;   // thread in group (PTX threadID_in_group)

  // ---- Prologue: Q tile → sV, K_0 → sK; Q → registers.
  attn_load_tile<T, D>(sV, qb, q_stride, q0, seq, tid);
  attn_load_tile<T, D>(sK, kb, kv_stride, 0, seq, tid);
  hp_cp_async_commit();
  hp_cp_async_wait<0>();
  __syncthreads();

  // Q A-fragments, one per k16 step of d: lane supplies row 16·warp + (lane & 15) and chunk
  // 2·kk + (lane >> 4), so the four matrices are {rows 0-7, d 0-7}, {rows 8-15, d 0-7},
  // {rows 0-7, d 8-15}, {rows 8-15, d 8-15} of the step = a-registers 0..3 of the PTX A
  // layout (a0a1: row g, col 2t..; a2a3: row g+8; a4a5: row g, col 8+2t..; a6a7: row g+8).
  unsigned qf[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
    hp_ldsm_x4(qf[kk], sV + attn_swz<D>(warp * 16 + (lane & 15), 2 * kk + (lane >> 4)));
  __syncthreads();  // every warp has its Q fragments before sV is overwritten by V_0

  // Accumulators. o_acc[nb] is the m16n8 C fragment of output columns [8nb, 8nb+8):
  // o_acc[nb][0..1] at (row g, cols 8nb+2t, +1), o_acc[nb][2..3] at (row g+8, same cols).
  // Row statistics per thread: index 0 → row g, 1 → row g+8 of the warp's 16 rows.
  float o_acc[D / 8][4];
#pragma unroll
  for (int nb = 0; nb < D / 8; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) o_acc[nb][e] = 0.f;
  float m_run[2] = {ATTN_NEG_INF, ATTN_NEG_INF};  // running max of the raw scores q·k
  float l_run[2] = {0.f, 0.f};              // this thread's part of the running sum

  const int row_q0 = q0 + warp * 16 + g;  // query index of fragment row g (row g+8: +8)

  for (int j = 0; j < n_tiles; ++j) {
    const int kv0 = j * ATTN_BKV;
    // V_j in flight while S_j and the softmax run. (sV is free: previous iteration ended
    // with a barrier after its P·V.)
    attn_load_tile<T, D>(sV, vb, kv_stride, kv0, seq, tid);
    hp_cp_async_commit();

    // ---- S = Q·K_jᵀ: 16 rows × 64 keys per warp = 8 n8 blocks s[nb] (keys 8nb..8nb+7).
    // K B-fragments for two n8 blocks per x4: lane supplies key row (lane & 7) + 8·(lane>>4)
    // of the 16-key pair and chunk 2·kk + ((lane >> 3) & 1), so the matrices are
    // {keys 0-7, d 0-7}, {keys 0-7, d 8-15}, {keys 8-15, d 0-7}, {keys 8-15, d 8-15}.
    // Plain ldmatrix of the [key][d] tile gives lane t (key = t/4, d = 2(t%4)+{0,1}), which
    // is the PTX B layout (b0b1: k-row 2t.., col g; b2b3: k-row 8+2t..) with k = d, n = key:
    // r[0], r[1] → block 2·np, r[2], r[3] → block 2·np+1.
    float s[ATTN_BKV / 8][4];
#pragma unroll
    for (int nb = 0; nb < ATTN_BKV / 8; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[nb][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < ATTN_BKV / 16; ++np) {
        unsigned r[4];
        hp_ldsm_x4(r, sK + attn_swz<D>(np * 16 + (lane & 7) + ((lane >> 4) << 3),
                                          2 * kk + ((lane >> 3) & 1)));
        hp_mma(s[2 * np], qf[kk], r[0], r[1], T());
        hp_mma(s[2 * np + 1], qf[kk], r[2], r[3], T());
      }
    }

    // ---- Mask: key ≥ seq (ragged last tile), key > query (diagonal tile when causal).
    // s[nb][e] is (row g + 8·(e>>1), key kv0 + 8nb + 2t + (e&1)).
    const bool need_mask = (kv0 + ATTN_BKV > seq) || (causal && j == qt);
    if (need_mask) {
#pragma unroll
      for (int nb = 0; nb < ATTN_BKV / 8; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = kv0 + nb * 8 + 2 * t + (e & 1);
          const int qi = row_q0 + 8 * (e >> 1);
          if (key >= seq || (causal && key > qi)) s[nb][e] = ATTN_NEG_INF;
        }
    }

    // ---- Online softmax. A row's 64 scores are spread over the 4 lanes of a quad
    // (same g): reduce over this thread's 16 values, then xor-shuffle over lanes ^1, ^2.
    float mx[2] = {m_run[0], m_run[1]};
#pragma unroll
    for (int nb = 0; nb < ATTN_BKV / 8; ++nb) {
      mx[0] = fmaxf(mx[0], fmaxf(s[nb][0], s[nb][1]));
      mx[1] = fmaxf(mx[1], fmaxf(s[nb][2], s[nb][3]));
    }
    float base[2], alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      // A row with no unmasked key so far keeps max −inf: use 0 as the exponent base so
      // exp2(−inf − base) = 0 and nothing becomes NaN.
      base[r] = (mx[r] == ATTN_NEG_INF) ? 0.f : mx[r] * sl2;
      alpha[r] = exp2f(m_run[r] * sl2 - base[r]);  // rescale of the old state (0 at start)
      m_run[r] = mx[r];
      l_run[r] *= alpha[r];
    }
#pragma unroll
    for (int nb = 0; nb < D / 8; ++nb) {
      o_acc[nb][0] *= alpha[0];
      o_acc[nb][1] *= alpha[0];
      o_acc[nb][2] *= alpha[1];
      o_acc[nb][3] *= alpha[1];
    }
    // p = exp2(s·scale·log2e − max·scale·log2e); the row sum uses the f32 values.
#pragma unroll
    for (int nb = 0; nb < ATTN_BKV / 8; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float p = exp2f(fmaf(s[nb][e], sl2, -base[e >> 1]));
        s[nb][e] = p;
        l_run[e >> 1] += p;
      }
    // P as A fragments, one per k16 step (16 keys): the C fragments of blocks 2kk and
    // 2kk+1 cover exactly the A layout — a0a1 = (row g, keys 2t..) = s[2kk][0..1],
    // a2a3 = (row g+8, keys 2t..) = s[2kk][2..3], a4a5 = (row g, keys 8+2t..) =
    // s[2kk+1][0..1], a6a7 = (row g+8, keys 8+2t..) = s[2kk+1][2..3].
    unsigned pf[ATTN_BKV / 16][4];
#pragma unroll
    for (int kk = 0; kk < ATTN_BKV / 16; ++kk) {
      pf[kk][0] = hp_pack2(s[2 * kk][0], s[2 * kk][1], T());
      pf[kk][1] = hp_pack2(s[2 * kk][2], s[2 * kk][3], T());
      pf[kk][2] = hp_pack2(s[2 * kk + 1][0], s[2 * kk + 1][1], T());
      pf[kk][3] = hp_pack2(s[2 * kk + 1][2], s[2 * kk + 1][3], T());
    }

    // V_j has landed (and every warp is done reading K_j): fetch K_{j+1} under P·V_j.
    hp_cp_async_wait<0>();
    __syncthreads();
    if (j + 1 < n_tiles) {
      attn_load_tile<T, D>(sK, kb, kv_stride, kv0 + ATTN_BKV, seq, tid);
      hp_cp_async_commit();
    }

    // ---- O += P·V_j. V B-fragments for two n8 blocks of d per x4.trans: lane supplies key
    // row 16·kk + (lane & 7) + 8·((lane >> 3) & 1) and chunk 2·dp + (lane >> 4), so the
    // matrices are {keys 0-7, d 0-7}, {keys 8-15, d 0-7}, {keys 0-7, d 8-15},
    // {keys 8-15, d 8-15}. Transposed ldmatrix of the [key][d] tile gives lane t
    // (key = 2(t%4)+{0,1}, d = t/4) = PTX B layout with k = key, n = d:
    // r[0], r[1] → d block 2·dp, r[2], r[3] → d block 2·dp+1.
#pragma unroll
    for (int kk = 0; kk < ATTN_BKV / 16; ++kk) {
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        unsigned r[4];
        hp_ldsm_x4_t(r, sV + attn_swz<D>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3),
                                            2 * dp + (lane >> 4)));
        hp_mma(o_acc[2 * dp], pf[kk], r[0], r[1], T());
        hp_mma(o_acc[2 * dp + 1], pf[kk], r[2], r[3], T());
      }
    }

    // K_{j+1} has landed; every warp is done reading V_j before it is refilled.
    hp_cp_async_wait<0>();
    __syncthreads();
  }

  // ---- Epilogue: full row sums over the quad, O / l rounded once to T.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 1);
    l_run[r] += __shfl_xor_sync(0xffffffffu, l_run[r], 2);
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int qi = row_q0 + 8 * r;
    if (qi < seq) {
      const float inv = l_run[r] > 0.f ? 1.f / l_run[r] : 0.f;
      T* orow = ob + (size_t)qi * q_stride;
#pragma unroll
      for (int nb = 0; nb < D / 8; ++nb) {
        attn_pair<T> p;
        p.x = hp_from_float<T>(o_acc[nb][2 * r] * inv);
        p.y = hp_from_float<T>(o_acc[nb][2 * r + 1] * inv);
        *reinterpret_cast<attn_pair<T>*>(orow + nb * 8 + 2 * t) = p;
      }
    }
  }
#elif defined(HP_MFMA)
  typedef typename hp_mfma_vec<T>::type V;
  __shared__ __attribute__((aligned(16))) unsigned short sK[ATTN_BKV * D];  // also stages Q
  __shared__ __attribute__((aligned(16))) unsigned short sVt[D * ATTN_BKV];
  static_assert(sizeof(sK) + sizeof(sVt) <= HP_SMEM_LIMIT, "attention tiles exceed HP_SMEM_LIMIT");

  const int tid = threadIdx.x;
  const int wl = tid & 63;    // lane in the wavefront
  const int wave = tid >> 6;  // 0..1: query rows [32·wave, 32·wave + 32) of the tile
  const int fr = wl & 15;     // query row within a 16-row tile (S, P and O alike)
  const int fq = wl >> 4;     // key quad (S, P) / d quad (O) within a 16-wide tile
  uint4 ld[D / 16];           // one 64-row tile's share of this thread, in flight

  // ---- Prologue: Q tile → sK → registers (B operand Qᵀ: query row fr, d 16kk + 4fq..+3).
  attn_fetch<T, D>(ld, qb, q_stride, q0, seq, tid);
  attn_stash_rows<D>(sK, ld, tid);
  __syncthreads();
  V qf[2][D / 16];
#pragma unroll
  for (int qi = 0; qi < 2; ++qi)
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
      qf[qi][kk] = hp_frag<V>(sK + attn_swz8<D / 4>(wave * 32 + qi * 16 + fr, kk * 4 + fq));
  __syncthreads();  // every wave has its Q before sK is overwritten by K_0
  attn_fetch<T, D>(ld, kb, kv_stride, 0, seq, tid);
  attn_stash_rows<D>(sK, ld, tid);
  __syncthreads();

  // oacc[qi][dt][r] = O[query row_q + 16qi][d 16dt + 4fq + r] (unnormalised, f32).
  hp_f32x4 oacc[2][D / 16];
#pragma unroll
  for (int qi = 0; qi < 2; ++qi)
#pragma unroll
    for (int dt = 0; dt < D / 16; ++dt) oacc[qi][dt] = hp_f32x4{0.f, 0.f, 0.f, 0.f};
  float m_run[2] = {ATTN_NEG_INF, ATTN_NEG_INF};  // running max of the raw scores q·k
  float l_run[2] = {0.f, 0.f};                    // this lane's part of the running sum
  const int row_q = q0 + wave * 32 + fr;          // query of tile row fr (tile qi: +16qi)

  for (int j = 0; j < n_tiles; ++j) {
    const int kv0 = j * ATTN_BKV;
    attn_fetch<T, D>(ld, vb, kv_stride, kv0, seq, tid);  // V_j in flight under S_j

    // ---- Sᵀ = K_j·Qᵀ: s[qi][kt][r] = S[query row_q + 16qi][key kv0 + 16kt + 4fq + r].
    hp_f32x4 s[2][4];
#pragma unroll
    for (int qi = 0; qi < 2; ++qi)
#pragma unroll
      for (int kt = 0; kt < 4; ++kt) s[qi][kt] = hp_f32x4{0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      V kf[4];
#pragma unroll
      for (int kt = 0; kt < 4; ++kt) kf[kt] = hp_frag<V>(sK + attn_swz8<D / 4>(kt * 16 + fr, kk * 4 + fq));
#pragma unroll
      for (int qi = 0; qi < 2; ++qi)
#pragma unroll
        for (int kt = 0; kt < 4; ++kt) hp_mma(s[qi][kt], kf[kt], qf[qi][kk]);
    }

    // ---- Mask: key ≥ seq (ragged last tile), key > query (diagonal tile when causal).
    const bool need_mask = (kv0 + ATTN_BKV > seq) || (causal && j == qt);
    if (need_mask) {
#pragma unroll
      for (int qi = 0; qi < 2; ++qi)
#pragma unroll
        for (int kt = 0; kt < 4; ++kt)
#pragma unroll
          for (int r = 0; r < 4; ++r) {
            const int key = kv0 + kt * 16 + fq * 4 + r;
            if (key >= seq || (causal && key > row_q + 16 * qi)) s[qi][kt][r] = ATTN_NEG_INF;
          }
    }

    // ---- Online softmax. A row's 64 scores are spread over the 4 lanes with equal fr
    // (16 each): reduce locally, then xor-shuffle over lanes ^16 and ^32 of the wave.
    V pf[2][4];
#pragma unroll
    for (int qi = 0; qi < 2; ++qi) {
      float mx = m_run[qi];
#pragma unroll
      for (int kt = 0; kt < 4; ++kt)
#pragma unroll
        for (int r = 0; r < 4; ++r) mx = fmaxf(mx, s[qi][kt][r]);
      mx = fmaxf(mx, __shfl_xor(mx, 16));
      mx = fmaxf(mx, __shfl_xor(mx, 32));
      // A row with no unmasked key so far keeps max −inf: exponent base 0, so nothing is NaN.
      const float base = (mx == ATTN_NEG_INF) ? 0.f : mx * sl2;
      const float alpha = exp2f(m_run[qi] * sl2 - base);  // rescale of the old state
      m_run[qi] = mx;
      l_run[qi] *= alpha;
#pragma unroll
      for (int dt = 0; dt < D / 16; ++dt) oacc[qi][dt] *= alpha;
#pragma unroll
      for (int kt = 0; kt < 4; ++kt) {
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const float p = exp2f(fmaf(s[qi][kt][r], sl2, -base));
          s[qi][kt][r] = p;
          l_run[qi] += p;
        }
        // Lane L holds P[query fr][key 4fq + e] = Pᵀ[key][query] in the B-operand layout.
        pf[qi][kt] = hp_round4(s[qi][kt], T());
      }
    }

    // V_j → transposed LDS (every wave finished O += P·V_{j-1}: barrier at the loop end).
    attn_stash_cols<D>(sVt, ld, tid);
    __syncthreads();  // Vᵀ_j visible; every wave is done reading K_j
    if (j + 1 < n_tiles) attn_fetch<T, D>(ld, kb, kv_stride, kv0 + ATTN_BKV, seq, tid);

    // ---- Oᵀ += Vᵀ_j·Pᵀ: A = Vᵀ (d 16dt + fr, keys 16kt + 4fq..+3), B = pf.
#pragma unroll
    for (int kt = 0; kt < 4; ++kt) {
#pragma unroll
      for (int dt = 0; dt < D / 16; ++dt) {
        const V vf = hp_frag<V>(sVt + attn_swz8<ATTN_BKV / 4>(dt * 16 + fr, kt * 4 + fq));
#pragma unroll
        for (int qi = 0; qi < 2; ++qi) hp_mma(oacc[qi][dt], vf, pf[qi][kt]);
      }
    }

    if (j + 1 < n_tiles) attn_stash_rows<D>(sK, ld, tid);
    __syncthreads();  // K_{j+1} visible; every wave is done reading Vᵀ_j
  }

  // ---- Epilogue: full row sums over the 4 lanes of a row, O / l rounded once to T.
#pragma unroll
  for (int qi = 0; qi < 2; ++qi) {
    float l = l_run[qi];
    l += __shfl_xor(l, 16);
    l += __shfl_xor(l, 32);
    const int qrow = row_q + 16 * qi;
    if (qrow < seq) {
      const float inv = l > 0.f ? 1.f / l : 0.f;
      T* orow = ob + (size_t)qrow * q_stride;
#pragma unroll
      for (int dt = 0; dt < D / 16; ++dt) {
        attn_quad<T> p;
#pragma unroll
        for (int r = 0; r < 4; ++r) p.v[r] = hp_from_float<T>(oacc[qi][dt][r] * inv);
        *reinterpret_cast<attn_quad<T>*>(orow + dt * 16 + fq * 4) = p;
      }
    }
  }
#else
  // Scalar fallback (HIP targets without MFMA): thread r < 64 owns query q0 + r.
  const int r = threadIdx.x;
  const int qi = q0 + r;
  if (r < ATTN_BQ && qi < seq) {
    const T* qr = qb + (size_t)qi * q_stride;
    float acc[D];
    for (int i = 0; i < D; ++i) acc[i] = 0.f;
    float m = ATTN_NEG_INF, l = 0.f;
    const int kend = causal ? qi + 1 : seq;
    for (int key = 0; key < kend; ++key) {
      const T* kr = kb + (size_t)key * kv_stride;
      const T* vr = vb + (size_t)key * kv_stride;
      float sdot = 0.f;
      for (int i = 0; i < D; ++i) sdot += hp_to_float(qr[i]) * hp_to_float(kr[i]);
      const float mn = fmaxf(m, sdot);
      const float a = exp2f((m - mn) * sl2);
      const float p = exp2f((sdot - mn) * sl2);
      l = l * a + p;
      for (int i = 0; i < D; ++i) acc[i] = acc[i] * a + p * hp_to_float(vr[i]);
      m = mn;
    }
    T* orow = ob + (size_t)qi * q_stride;
    for (int i = 0; i < D; ++i) orow[i] = hp_from_float<T>(acc[i] / l);
  }
  (void)n_tiles;
#endif
}

#define ATTN_PREFILL_KERNEL(NAME, T, D)                                                  \
  extern "C" __global__ void __launch_bounds__(ATTN_THREADS)                             \
      NAME(const T* q, const T* k, const T* v, T* o, int batch, int seq, int hq, int hkv, \
           int causal, float scale) {                                                    \
    (void)batch;                                                                         \
    attn_prefill<T, D>(q, k, v, o, seq, hq, hkv, causal, scale);                         \
  }

ATTN_PREFILL_KERNEL(hp_attn_prefill_f16_d64, f16_t, 64)
ATTN_PREFILL_KERNEL(hp_attn_prefill_f16_d128, f16_t, 128)
ATTN_PREFILL_KERNEL(hp_attn_prefill_bf16_d64, bf16_t, 64)
ATTN_PREFILL_KERNEL(hp_attn_prefill_bf16_d128, bf16_t, 128)
