// attn_mla_decode.cu — multi-head latent attention decode (DeepSeek MLA, absorbed form) over
// a paged latent cache. Contract and bandwidth/compute reasoning: kernels/README.md.
//
// Every query head attends to the one latent KV head: a cached token is one row of W = DL + DR
// elements (the latent, then the decoupled RoPE key); the key is the whole row and the value
// its first DL elements. One block of 4·H threads per (split, head tile of H heads, sequence)
// streams its split's rows through a ring of `stages` TILE-token stages in dynamic shared
// memory (16-byte cp.async copies, rows past the split zero-filled), so each row is read from
// memory once for H heads, and serves both products from the same shared-memory bytes.
// DL, DR and H are compile-time parameters; the launch plan (crates/core/src/launch_plan/mla.rs)
// picks the instantiation, the ring depth and the split count, and computes the same layout.
//
// Shared memory: the ring, a decoded tile (fp8 cache only), the score exchange (tensor-core
// path only) and the head tile's queries (H rows). Rows are W·sizeof + 16 bytes apart: an odd
// number of 16-byte chunks, so the 8 rows of an ldmatrix fall in 8 distinct bank groups.
//
// Compute, per tile of TILE = 32 tokens:
//  - tensor cores (NVIDIA, f16/bf16): warp w takes heads 16·(w/2) .. +16 and value columns
//    (w%2)·DL/2 .. +DL/2. S = Q·Kᵀ by mma.sync m16n8k16 (Q and K fragments by ldmatrix) is
//    split over the row between the two warps of a head group (w%2 takes k16 steps
//    (w%2)·W/32 ..), which add their halves through shared memory (the exchange), so no warp
//    repeats the other's products; both then run the same online softmax in f32 (exp2,
//    scale·log2e folded in) and O += P·V over their own columns (V fragments by
//    ldmatrix.trans from the same rows, P from the score registers).
//  - CUDA cores (f32, and HIP): four threads per head; each computes a quarter of every
//    score (reduced by two xor shuffles), the online softmax, and a quarter of the columns.
// No warp shares a (head, column) with another, so there is no merge: with one split the
// block writes the normalised output; otherwise an unnormalised partial per (sequence, head,
// split) and (max·scale·log2e, sum), and hp_attn_mla_decode_combine_* merges the splits.
//
// fp8 cache (vLLM's fp8 MLA cache): the ring holds e4m3 codes of the device's encoding (OCP;
// e4m3fnuz on gfx94x), W + 16 bytes a row; once a tile has landed, the block decodes it into
// the dtype (exact: every e4m3 value is an f16, bf16 and f32) in the decoded tile, and the
// paths above read that. The one per-tensor kv_scale multiplies the scores (after the
// exchange) and the output.
#include "hotpath_common.cuh"

#define HP_MLA_TILE 32
#define HP_MLA_PAD 16
#define HP_MLA_LOG2E 1.4426950408889634f
// Most splits the combine kernel takes (the plan's MAX_SPLITS).
#define HP_MLA_MAX_SPLITS 256

// Compile-time layout of one instantiation: T for q and o, KT for the cache (T, or unsigned
// char for fp8 codes), DL + DR elements a row, H heads a block.
template <typename T, typename KT, int DL, int DR, int H>
struct MlaCfg {
  static constexpr int W = DL + DR;
  static constexpr bool F8 = sizeof(KT) == 1;
  static constexpr int THREADS = 4 * H;
  static constexpr int WARPS = THREADS / 32;
  static constexpr int TSTR = W * (int)sizeof(T) + HP_MLA_PAD;   // bytes of a Q or decoded row
  static constexpr int KSTR = W * (int)sizeof(KT) + HP_MLA_PAD;  // bytes of a ring row
  static constexpr int CH = W * (int)sizeof(KT) / 16;            // 16-byte chunks of a cached row
  static constexpr int QCH = W * (int)sizeof(T) / 16;            // 16-byte chunks of a query row
  static constexpr int STAGE = HP_MLA_TILE * KSTR;
  static constexpr int QBYTES = H * TSTR;
  static constexpr int DEC = F8 ? HP_MLA_TILE * TSTR : 0;
#if defined(HP_MMA) && !defined(HP_HIP)
  static constexpr bool MMA = sizeof(T) == 2;
#else
  static constexpr bool MMA = false;
#endif
  static constexpr int XCH = MMA ? WARPS * 32 * 16 * 4 : 0;
  static constexpr int KSTEPS = W / 32;  // tensor cores: k16 steps of a warp's half row
  static constexpr int VCOLS = DL / 2;   // tensor cores: value columns of a warp
  static constexpr int KQ = W / 4;       // CUDA cores: elements of a thread's part of a score
  static constexpr int VQ = DL / 4;      // CUDA cores: output columns of a thread
  static_assert(W % 32 == 0 && DL % 32 == 0 && (W * (int)sizeof(KT)) % 16 == 0, "widths");
  static_assert(H % 16 == 0 && THREADS <= 256, "head tile");
};

// Wait until at most `pending` committed copy groups of this thread are in flight (0..2).
__device__ __forceinline__ void mla_wait(int pending) {
  if (pending <= 0)
    hp_cp_async_wait<0>();
  else if (pending == 1)
    hp_cp_async_wait<1>();
  else
    hp_cp_async_wait<2>();
}

// cp.async copies of tile `tile` of tokens [t0, t1) into `stage`, rows through the block table.
template <typename T, typename KT, int DL, int DR, int H>
__device__ __forceinline__ void mla_issue(unsigned char* stage, const KT* __restrict__ cache,
                                          const int* __restrict__ table, int tile, int t0, int t1,
                                          int page_size) {
  using C = MlaCfg<T, KT, DL, DR, H>;
  for (int idx = threadIdx.x; idx < HP_MLA_TILE * C::CH; idx += C::THREADS) {
    const int r = idx / C::CH, c = idx % C::CH;
    const int t = t0 + tile * HP_MLA_TILE + r;
    const bool p = t < t1;
    const long long row = p ? ((long long)table[t / page_size] * page_size + t % page_size) * C::W : 0;
    hp_cp_async16(stage + r * C::KSTR + c * 16, cache + row + c * (16 / (int)sizeof(KT)), p);
  }
}

// An fp8 tile's codes decoded into T rows (exact).
template <typename T, typename KT, int DL, int DR, int H>
__device__ __forceinline__ void mla_decode_tile(unsigned char* dec, const unsigned char* stage) {
  using C = MlaCfg<T, KT, DL, DR, H>;
  for (int idx = threadIdx.x; idx < HP_MLA_TILE * C::W / 4; idx += C::THREADS) {
    const int r = idx / (C::W / 4), c = 4 * (idx % (C::W / 4));
    const unsigned w = *reinterpret_cast<const unsigned*>(stage + r * C::KSTR + c);
    T* out = reinterpret_cast<T*>(dec + r * C::TSTR) + c;
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = hp_from_float<T>(hp_fp8_e4m3_to_float((w >> (8 * i)) & 0xffu));
  }
}

// ---- Tensor-core path (NVIDIA, f16/bf16) ----
#if defined(HP_MMA) && !defined(HP_HIP)
template <int DL>
struct MlaMmaState {
  float o[DL / 16][4];  // C fragments of the warp's DL/2 columns [8nb, 8nb+8): rows g, g+8
  float m[2];           // running max of the raw scores, head rows g and g+8
  float l[2];           // this lane's part of the running sum
};

// One tile of `rows` (T, TSTR apart): tokens tok0 .. tok0+TILE, valid below t1.
template <typename T, typename KT, int DL, int DR, int H>
__device__ __forceinline__ void mla_mma_tile(MlaMmaState<DL>& st, const unsigned char* rows,
                                             const unsigned char* qs, float* xch, int tok0, int t1,
                                             float sl2, float kv_sc) {
  using C = MlaCfg<T, KT, DL, DR, H>;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, hw = warp >> 1, cw = warp & 1;
  // This warp's half of S = Q·Kᵀ: 16 heads × 32 tokens = four n8 blocks of tokens.
  float s[4][4];
#pragma unroll
  for (int nb = 0; nb < 4; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) s[nb][e] = 0.f;
#pragma unroll 2
  for (int k = 0; k < C::KSTEPS; ++k) {
    const int kk = cw * C::KSTEPS + k;
    unsigned qa[4];
    // Q A fragment: head rows (lane & 15), chunk 2kk + (lane >> 4).
    hp_ldsm_x4(qa, qs + (hw * 16 + (lane & 15)) * C::TSTR + (2 * kk + (lane >> 4)) * 16);
#pragma unroll
    for (int p = 0; p < 2; ++p) {
      // K B fragments of two n8 blocks: token rows 16p + (lane & 7) + 8(lane >> 4), chunk
      // 2kk + ((lane >> 3) & 1).
      unsigned kb[4];
      hp_ldsm_x4(kb, rows + (16 * p + (lane & 7) + ((lane >> 4) << 3)) * C::TSTR + (2 * kk + ((lane >> 3) & 1)) * 16);
      hp_mma(s[2 * p], qa, kb[0], kb[1], T());
      hp_mma(s[2 * p + 1], qa, kb[2], kb[3], T());
    }
  }
  // The two warps of the head group add their halves (own + partner's, the same sum in both).
  float* mine = xch + warp * 16 * 32;
  const float* theirs = xch + (warp ^ 1) * 16 * 32;
#pragma unroll
  for (int i = 0; i < 16; ++i) mine[i * 32 + lane] = s[i >> 2][i & 3];
  __syncthreads();
#pragma unroll
  for (int i = 0; i < 16; ++i) s[i >> 2][i & 3] = (s[i >> 2][i & 3] + theirs[i * 32 + lane]) * kv_sc;
  // s[nb][e]: head row g + 8(e >> 1), token tok0 + 8nb + 2t + (e & 1).
  hp_mma_softmax_step(s, st.m, st.l, st.o, tok0, t1, sl2);
  // O += P·V over the warp's columns, 16 tokens a k16 step: P's A fragment from the score
  // registers of n8 blocks 2p, 2p+1; V B fragments of two n8 blocks of columns per
  // ldmatrix.x4.trans (token rows 16p + (lane & 7) + 8((lane >> 3) & 1)).
#pragma unroll
  for (int p = 0; p < 2; ++p) {
    unsigned pf[4];
    pf[0] = hp_pack2(s[2 * p][0], s[2 * p][1], T());
    pf[1] = hp_pack2(s[2 * p][2], s[2 * p][3], T());
    pf[2] = hp_pack2(s[2 * p + 1][0], s[2 * p + 1][1], T());
    pf[3] = hp_pack2(s[2 * p + 1][2], s[2 * p + 1][3], T());
    const unsigned char* vrow = rows + (16 * p + (lane & 7) + (((lane >> 3) & 1) << 3)) * C::TSTR + cw * C::VCOLS * 2;
#pragma unroll
    for (int dp = 0; dp < C::VCOLS / 16; ++dp) {
      unsigned vb[4];
      hp_ldsm_x4_t(vb, vrow + (2 * dp + (lane >> 4)) * 16);
      hp_mma(st.o[2 * dp], pf, vb[0], vb[1], T());
      hp_mma(st.o[2 * dp + 1], pf, vb[2], vb[3], T());
    }
  }
}
#endif

// ---- CUDA-core path: four threads per head ----
// The running softmax state of one head (the same in its four threads).
struct MlaRow {
  float m;  // running max of the raw scores
  float l;  // running sum of the weights
};

template <int DL>
struct MlaScalarState {
  float o[DL / 4];  // this thread's columns (DL/4)·(tid%4) ..
  MlaRow row;
};

template <typename T, typename KT, int DL, int DR, int H>
__device__ __forceinline__ void mla_scalar_tile(MlaScalarState<DL>& st, const unsigned char* rows,
                                                const unsigned char* qs, int tok0, int t1, float sl2,
                                                float kv_sc) {
  using C = MlaCfg<T, KT, DL, DR, H>;
  const int head = threadIdx.x >> 2, part = threadIdx.x & 3;
  const T* q = reinterpret_cast<const T*>(qs + head * C::TSTR) + part * C::KQ;
  float sc[HP_MLA_TILE];
  float mx = st.row.m;
#pragma unroll 4
  for (int r = 0; r < HP_MLA_TILE; ++r) {
    const T* k = reinterpret_cast<const T*>(rows + r * C::TSTR) + part * C::KQ;
    float a = 0.f;
    for (int e = 0; e < C::KQ; ++e) a = fmaf(hp_to_float(q[e]), hp_to_float(k[e]), a);
    a += hp_shfl_xor(a, 1);
    a += hp_shfl_xor(a, 2);
    sc[r] = tok0 + r < t1 ? a * kv_sc : HP_SCORE_NEG;
    mx = fmaxf(mx, sc[r]);
  }
  const float alpha = exp2f((st.row.m - mx) * sl2);
  st.row.m = mx;
  st.row.l *= alpha;
#pragma unroll
  for (int c = 0; c < C::VQ; ++c) st.o[c] *= alpha;
  for (int r = 0; r < HP_MLA_TILE; ++r) {
    if (tok0 + r >= t1) break;  // uniform over the block
    const float p = exp2f((sc[r] - mx) * sl2);
    st.row.l += p;
    const T* v = reinterpret_cast<const T*>(rows + r * C::TSTR) + part * C::VQ;
#pragma unroll
    for (int c = 0; c < C::VQ; ++c) st.o[c] = fmaf(p, hp_to_float(v[c]), st.o[c]);
  }
}

// The result of one (head, column): normalised into o with one split, else the partial.
template <typename T>
__device__ __forceinline__ void mla_store(T* __restrict__ o, float* __restrict__ part_o, long long head, int col,
                                          int dl, int splits, int split, float acc, float l, float kv_sc) {
  if (splits == 1)
    o[head * dl + col] = hp_from_float<T>(l > 0.f ? acc * kv_sc / l : 0.f);
  else
    part_o[(head * splits + split) * dl + col] = acc * kv_sc;
}

template <typename T, typename KT, int DL, int DR, int H>
__device__ __forceinline__ void hp_attn_mla_decode_impl(const T* __restrict__ q, const KT* __restrict__ cache,
                                                        const int* __restrict__ block_table,
                                                        const int* __restrict__ seq_lens, float* __restrict__ part_o,
                                                        float* __restrict__ part_ml, T* __restrict__ o, int hq,
                                                        int page_size, int pages_per_seq, int splits, int chunk,
                                                        int stages, const float* __restrict__ kv_scale) {
  using C = MlaCfg<T, KT, DL, DR, H>;
  extern __shared__ __align__(128) unsigned char hp_mla_smem[];
  const int split = blockIdx.x, tile_h = blockIdx.y, b = blockIdx.z;
  const int tid = threadIdx.x;
  const float sl2 = rsqrtf((float)C::W) * HP_MLA_LOG2E;
  const int len = seq_lens[b];
  const int t0 = split * chunk;
  const int t1 = min(len, t0 + chunk);
  const int n_tiles = t1 > t0 ? (t1 - t0 + HP_MLA_TILE - 1) / HP_MLA_TILE : 0;
  const int* table = block_table + (long long)b * pages_per_seq;
  const float kv_sc = C::F8 ? kv_scale[0] : 1.f;
  unsigned char* ring = hp_mla_smem;
  unsigned char* dec = ring + stages * C::STAGE;
  float* xch = reinterpret_cast<float*>(dec + C::DEC);
  (void)xch;
  // The queries last, their pad first: the last query row ends the block's shared memory,
  // so a plan that gives less is caught by the copies into it.
  unsigned char* qs = dec + C::DEC + C::XCH + HP_MLA_PAD;

  // The head tile's queries, in the first copy group.
  const long long head0 = (long long)b * hq + (long long)tile_h * H;
  for (int id = tid; id < H * C::QCH; id += C::THREADS) {
    const int r = id / C::QCH, c = id % C::QCH;
    hp_cp_async16(qs + r * C::TSTR + c * 16, q + (head0 + r) * C::W + c * (16 / (int)sizeof(T)), true);
  }
  hp_cp_async_commit();
#if defined(HP_MMA) && !defined(HP_HIP)
  MlaMmaState<DL> mst;
  if constexpr (C::MMA) {
#pragma unroll
    for (int nb = 0; nb < DL / 16; ++nb)
#pragma unroll
      for (int e = 0; e < 4; ++e) mst.o[nb][e] = 0.f;
    mst.m[0] = mst.m[1] = HP_SCORE_NEG;
    mst.l[0] = mst.l[1] = 0.f;
  }
#endif
  MlaScalarState<DL> sst;
  if constexpr (!C::MMA) {
#pragma unroll
    for (int c = 0; c < C::VQ; ++c) sst.o[c] = 0.f;
    sst.row = MlaRow{HP_SCORE_NEG, 0.f};
  }

  // Prologue: tiles 0 .. stages-2 in flight.
  for (int s = 0; s + 1 < stages; ++s) {
    if (s < n_tiles) mla_issue<T, KT, DL, DR, H>(ring + s * C::STAGE, cache, table, s, t0, t1, page_size);
    hp_cp_async_commit();
  }
  for (int j = 0; j < n_tiles; ++j) {
    if (stages == 1) {
      __syncthreads();  // every warp is done with the previous tile
      mla_issue<T, KT, DL, DR, H>(ring, cache, table, j, t0, t1, page_size);
      hp_cp_async_commit();
    }
    mla_wait(stages - 2);  // tile j (and the queries) have landed for this thread ...
    __syncthreads();       // ... and for every thread; every warp is done with tile j-1
    if (stages > 1) {
      const int nt = j + stages - 1;  // into the slot of tile j-1
      if (nt < n_tiles) mla_issue<T, KT, DL, DR, H>(ring + (nt % stages) * C::STAGE, cache, table, nt, t0, t1, page_size);
      hp_cp_async_commit();
    }
    const unsigned char* rows = ring + (j % stages) * C::STAGE;
    if constexpr (C::F8) {
      mla_decode_tile<T, KT, DL, DR, H>(dec, rows);
      __syncthreads();
      rows = dec;
    }
    const int tok0 = t0 + j * HP_MLA_TILE;
#if defined(HP_MMA) && !defined(HP_HIP)
    if constexpr (C::MMA) mla_mma_tile<T, KT, DL, DR, H>(mst, rows, qs, xch, tok0, t1, sl2, kv_sc);
#endif
    if constexpr (!C::MMA) mla_scalar_tile<T, KT, DL, DR, H>(sst, rows, qs, tok0, t1, sl2, kv_sc);
  }
  hp_cp_async_wait<0>();

  // Each thread's (head, columns) are its own: store them.
#if defined(HP_MMA) && !defined(HP_HIP)
  if constexpr (C::MMA) {
    const int lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float l = mst.l[r];
      l += hp_shfl_xor(l, 1);
      l += hp_shfl_xor(l, 2);
      const long long head = head0 + (warp >> 1) * 16 + g + 8 * r;
#pragma unroll
      for (int nb = 0; nb < DL / 16; ++nb) {
        const int col = (warp & 1) * C::VCOLS + nb * 8 + 2 * t;
        mla_store<T>(o, part_o, head, col, DL, splits, split, mst.o[nb][2 * r], l, kv_sc);
        mla_store<T>(o, part_o, head, col + 1, DL, splits, split, mst.o[nb][2 * r + 1], l, kv_sc);
      }
      if (splits > 1 && (warp & 1) == 0 && t == 0) {
        part_ml[(head * splits + split) * 2 + 0] = mst.m[r] * sl2;
        part_ml[(head * splits + split) * 2 + 1] = l;
      }
    }
  }
#endif
  if constexpr (!C::MMA) {
    const long long head = head0 + (tid >> 2);
    const int part = tid & 3;
#pragma unroll
    for (int c = 0; c < C::VQ; ++c)
      mla_store<T>(o, part_o, head, part * C::VQ + c, DL, splits, split, sst.o[c], sst.row.l, kv_sc);
    if (splits > 1 && part == 0) {
      part_ml[(head * splits + split) * 2 + 0] = sst.row.m * sl2;
      part_ml[(head * splits + split) * 2 + 1] = sst.row.l;
    }
  }
}

// The splits' merge over d = DL columns: hotpath_common.cuh's hp_split_combine.
template <typename T>
__device__ __forceinline__ void hp_attn_mla_decode_combine_impl(const float* __restrict__ part_o,
                                                                const float* __restrict__ part_ml, T* __restrict__ o,
                                                                int hq, int splits, int d) {
  __shared__ float s_w[HP_MLA_MAX_SPLITS];
  __shared__ float s_inv[1];
  hp_split_combine<T>(part_o, part_ml, o, hq, splits, d, s_w, s_inv);
}

#define HP_MLA(SUFFIX, T, KT, DL, DR, H) \
  extern "C" __global__ void __launch_bounds__(4 * H) hp_attn_mla_decode_##SUFFIX##_l##DL##_r##DR##_h##H( \
      const T* __restrict__ q, const KT* __restrict__ kv_cache, const int* __restrict__ block_table, \
      const int* __restrict__ seq_lens, float* __restrict__ part_o, float* __restrict__ part_ml, T* __restrict__ o, \
      int batch, int hq, int page_size, int pages_per_seq, int splits, int chunk, int stages, \
      const float* __restrict__ kv_scale) { \
    (void)batch; \
    hp_attn_mla_decode_impl<T, KT, DL, DR, H>(q, kv_cache, block_table, seq_lens, part_o, part_ml, o, hq, page_size, \
                                              pages_per_seq, splits, chunk, stages, kv_scale); \
  }
#define HP_MLA_TILES(SUFFIX, T, KT, DL, DR) \
  HP_MLA(SUFFIX, T, KT, DL, DR, 16) \
  HP_MLA(SUFFIX, T, KT, DL, DR, 32) \
  HP_MLA(SUFFIX, T, KT, DL, DR, 64)
#define HP_MLA_DTYPE(SUFFIX, T) \
  HP_MLA_TILES(SUFFIX, T, T, 512, 64) \
  HP_MLA_TILES(SUFFIX, T, T, 64, 32) \
  HP_MLA_TILES(SUFFIX##_fp8kv, T, unsigned char, 512, 64) \
  HP_MLA_TILES(SUFFIX##_fp8kv, T, unsigned char, 64, 32) \
  extern "C" __global__ void __launch_bounds__(256) hp_attn_mla_decode_combine_##SUFFIX( \
      const float* __restrict__ part_o, const float* __restrict__ part_ml, T* __restrict__ o, int batch, int hq, \
      int splits, int d) { \
    (void)batch; \
    hp_attn_mla_decode_combine_impl<T>(part_o, part_ml, o, hq, splits, d); \
  }

HP_MLA_DTYPE(f32, float)
HP_MLA_DTYPE(f16, f16_t)
HP_MLA_DTYPE(bf16, bf16_t)
