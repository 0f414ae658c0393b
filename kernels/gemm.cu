// gemm.cu — C[m,n] = A[m,k] · W[n,k]ᵀ on the tensor cores (mma.sync m16n8k16, f32 accumulate).
//
// Both operands are K-contiguous ("TN"), which is exactly what `mma .row.col` consumes: the A
// tile is stored [m][k] and the W tile [n][k] in shared memory, and plain (non-transposed)
// ldmatrix produces both fragments.
//
// Geometry (README contract): grid (⌈n/128⌉, ⌈m/128⌉), block 256 = 8 warps.
//   block tile 128(m) × 128(n), BK = 32; warps arranged 2(m) × 4(n), each warp 64(m) × 32(n)
//   = 4 m16-fragments × 4 n8-fragments = 16 mma per k16 step, 64 f32 accumulators per thread.
// Pipeline: a GEMM_STAGES-deep ring of shared-memory stages filled by 16-byte cp.async
//   (zero-filled past the m / n / k edges; k % 8 == 0 so a 16-byte chunk never straddles k).
// Shared memory: per stage A 128×32 + W 128×32 elements = 16 KB; 3 stages = 48 KB static
//   (the static limit, so no opt-in attribute is needed). Rows are 64 bytes (4 chunks of
//   16 B) and XOR-swizzled (see gemm_swz) so ldmatrix and the cp.async stores are free of
//   bank conflicts without padding.
// Output: each f32 accumulator is rounded once to T and stored with a bounds check.
//
// HIP (AMD): the mma/ldmatrix/cp.async path (hp_mma, hp_ldsm_x4, hp_cp_async16 of the common
// header) is NVIDIA's. MFMA targets (HP_MFMA: gfx908, gfx90a, gfx94x, gfx950) get their own
// path with the same contract and the header's AMD hp_mma, see "MFMA path" below; other HIP
// targets compile a plain scalar body (correct, slow).
#include "hotpath_common.cuh"

#define GEMM_BM 128
#define GEMM_BN 128
#define GEMM_BK 32
#define GEMM_THREADS 256
#define GEMM_STAGES 3

#if !defined(HP_HIP)
// Element offset of (row, 16-byte chunk c ∈ 0..3) inside one 128×32 stage tile.
// Rows are 64 B, so two rows share one 128-B bank line; the chunk is XORed with
// (row>>1)&3. An ldmatrix phase reads 8 consecutive rows (first row a multiple of 8) at one
// logical chunk: rows {2i, 2i+1} land in the two halves of a line at physical chunk c^i, so
// the 8 rows hit 8 distinct 16-B bank groups. A cp.async phase (8 threads = 2 rows × 4
// chunks) writes one full 128-B line. Both conflict-free.
__device__ __forceinline__ int gemm_swz(int row, int c) {
  return row * GEMM_BK + ((c ^ ((row >> 1) & 3)) << 3);
}
#endif

#if defined(HP_MFMA)
// ---- MFMA path (AMD CDNA) ----
// Same contract as above: grid (⌈n/128⌉, ⌈m/128⌉), block 256 = 4 wavefronts of 64, block tile
// 128×128, BK = 32. Waves 2(m) × 2(n), each 64(m) × 64(n) = 4 × 4 tiles of 16×16, one
// v_mfma_f32_16x16x16{f16,bf16_1k} per tile and k16 step (gfx908 bf16: two 16x16x8bf16),
// 16 f32x4 accumulators per lane.
//
// Operand/accumulator layouts: hotpath_common.cuh (hp_mma). Lane L supplies row/column L%16
// and the four consecutive k's 4·(L/16)..+3 of both operands, so one 8-byte LDS read
// (hp_frag) of a K-contiguous [row][k] tile gives either fragment.
// W is passed as the MFMA "A" operand and the activation tile as "B" (D = W·Aᵀ = Cᵀ): lane
// L then holds C[m = L%16][n = 4·(L/16) + r], r = 0..3, i.e. four consecutive output columns
// of one row, stored as one 8-byte vector.
//
// Pipeline: no cp.async on AMD. Each thread prefetches its 16-byte chunks of k-tile kt+1
// into registers (zero where past m / n / k) while the waves compute on tile kt from LDS;
// after a barrier the registers are written to the single LDS stage.
// LDS: A and W tiles 128 × GEMM_LDS elements; rows padded from 32 to 36 elements (72 B) so
// the 16 lanes of a fragment read (16 rows, same k) hit 16 distinct 8-byte bank pairs
// (9·row mod 16); 2 × 9 KB = 18 KB per block.
#define GEMM_LDS (GEMM_BK + 4)
#endif

// A pair of adjacent output elements, stored with one 32-bit store.
template <typename T>
struct alignas(2 * sizeof(T)) gemm_pair {
  T x, y;
};

// Four adjacent output elements, stored with one 64-bit store (MFMA path).
template <typename T>
struct alignas(4 * sizeof(T)) gemm_quad {
  T v[4];
};

template <typename T>
__device__ __forceinline__ void gemm_tn(const T* __restrict__ a, const T* __restrict__ w,
                                        T* __restrict__ c, int m, int n, int k) {
  const int bm = blockIdx.y * GEMM_BM;
  const int bn = blockIdx.x * GEMM_BN;
#if !defined(HP_HIP)
  __shared__ __align__(128) T sA[GEMM_STAGES][GEMM_BM * GEMM_BK];
  __shared__ __align__(128) T sW[GEMM_STAGES][GEMM_BN * GEMM_BK];
  static_assert(sizeof(sA) + sizeof(sW) <= HP_SMEM_LIMIT, "gemm stages exceed HP_SMEM_LIMIT");

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int wm = warp >> 2;  // 0..1: warp rows [wm*64, wm*64+64) of the block tile
  const int wn = warp & 3;   // 0..3: warp cols [wn*32, wn*32+32)

  const int ktiles = (k + GEMM_BK - 1) / GEMM_BK;

  // Issue the cp.async copies of k-tile `kt` into stage `st`. 128 rows × 4 chunks = 512
  // chunks per operand, 2 per thread: chunk id = tid + 256 i → row id>>2, chunk id&3.
  auto load_tile = [&](int st, int kt) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int id = tid + i * GEMM_THREADS;
      const int row = id >> 2;
      const int ch = id & 3;
      const int gk = kt * GEMM_BK + ch * 8;
      const bool kin = gk < k;
      {
        const int gr = bm + row;
        const bool p = kin && gr < m;
        const T* src = p ? a + (size_t)gr * k + gk : a;
        hp_cp_async16(&sA[st][gemm_swz(row, ch)], src, p);
      }
      {
        const int gr = bn + row;
        const bool p = kin && gr < n;
        const T* src = p ? w + (size_t)gr * k + gk : w;
        hp_cp_async16(&sW[st][gemm_swz(row, ch)], src, p);
      }
    }
  };

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;

  // Prologue: fill stages 0..STAGES-2. One commit per stage even when empty, so that the
  // group count seen by wait_group stays uniform.
#pragma unroll
  for (int s = 0; s < GEMM_STAGES - 1; ++s) {
    if (s < ktiles) load_tile(s, s);
    hp_cp_async_commit();
  }

  // ldmatrix lane roles (fixed for the whole kernel):
  //  A (x4 → one m16k16 A fragment): lane supplies row (lane & 15) of the 16-row slice and
  //   chunk (lane >> 4) of the k16 step, so matrices are {rows 0-7,k 0-7}, {rows 8-15,k 0-7},
  //   {rows 0-7,k 8-15}, {rows 8-15,k 8-15} = a-registers 0,1,2,3 of the PTX A layout
  //   (a0a1: row g, k 2t..; a2a3: row g+8; a4a5: row g, k 8+2t..; a6a7: row g+8, k 8+2t..).
  //  W (x4 → B fragments of two n8 blocks): lane supplies n-row (lane & 7) + 8·(lane >> 4)
  //   and chunk (lane >> 3) & 1, so matrices are {n 0-7,k 0-7}, {n 0-7,k 8-15},
  //   {n 8-15,k 0-7}, {n 8-15,k 8-15}. Non-transposed ldmatrix of an [n][k] tile gives lane
  //   t the elements (n = t/4, k = 2(t%4)+{0,1}) = PTX B layout (b0b1: k 2t.., n g;
  //   b2b3: k 8+2t..), so r[0],r[1] are b-regs of n-block 0 and r[2],r[3] of n-block 1.
  const int a_row = wm * 64 + (lane & 15);
  const int a_ch = lane >> 4;
  const int w_row = wn * 32 + (lane & 7) + ((lane >> 4) << 3);
  const int w_ch = (lane >> 3) & 1;

  for (int kt = 0; kt < ktiles; ++kt) {
    // Groups committed so far: (STAGES-1) + kt; allowing STAGES-2 in flight means tile kt
    // has landed for this thread; the barrier makes every thread's copies visible and also
    // guarantees all warps finished computing on tile kt-1, whose stage is refilled next.
    hp_cp_async_wait<GEMM_STAGES - 2>();
    __syncthreads();
    {
      const int nt = kt + GEMM_STAGES - 1;
      if (nt < ktiles) load_tile(nt % GEMM_STAGES, nt);
      hp_cp_async_commit();
    }
    const T* tA = sA[kt % GEMM_STAGES];
    const T* tW = sW[kt % GEMM_STAGES];
#pragma unroll
    for (int ks = 0; ks < GEMM_BK / 16; ++ks) {
      unsigned af[4][4];
      unsigned bf[4][2];
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
        hp_ldsm_x4(af[mi], tA + gemm_swz(a_row + mi * 16, ks * 2 + a_ch));
#pragma unroll
      for (int nj = 0; nj < 2; ++nj) {
        unsigned r[4];
        hp_ldsm_x4(r, tW + gemm_swz(w_row + nj * 16, ks * 2 + w_ch));
        bf[2 * nj][0] = r[0];
        bf[2 * nj][1] = r[1];
        bf[2 * nj + 1][0] = r[2];
        bf[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) hp_mma(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1], T());
    }
  }
  // Drain the (empty) trailing groups before exit.
  hp_cp_async_wait<0>();

  // Epilogue. Accumulator layout (PTX C/D of m16n8): lane (g = lane>>2, t = lane&3) holds
  // c0,c1 at (row g, cols 2t, 2t+1) and c2,c3 at (row g+8, same cols).
  const int g = lane >> 2;
  const int t = lane & 3;
  const bool pair_ok = (n & 1) == 0;  // (row·n + even col) is then even: 4-B aligned pairs
#pragma unroll
  for (int mi = 0; mi < 4; ++mi) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = bm + wm * 64 + mi * 16 + g + 8 * h;
      if (row >= m) continue;
      T* crow = c + (size_t)row * n;
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const int col = bn + wn * 32 + ni * 8 + 2 * t;
        const float v0 = acc[mi][ni][2 * h];
        const float v1 = acc[mi][ni][2 * h + 1];
        if (pair_ok) {
          if (col < n) {  // n even and col even ⇒ col + 1 < n too
            gemm_pair<T> p;
            p.x = hp_from_float<T>(v0);
            p.y = hp_from_float<T>(v1);
            *reinterpret_cast<gemm_pair<T>*>(crow + col) = p;
          }
        } else {
          if (col < n) crow[col] = hp_from_float<T>(v0);
          if (col + 1 < n) crow[col + 1] = hp_from_float<T>(v1);
        }
      }
    }
  }
#elif defined(HP_MFMA)
  typedef typename hp_mfma_vec<T>::type V;
  __shared__ __attribute__((aligned(16))) unsigned short sA[GEMM_BM * GEMM_LDS];
  __shared__ __attribute__((aligned(16))) unsigned short sW[GEMM_BN * GEMM_LDS];
  static_assert(sizeof(sA) + sizeof(sW) <= HP_SMEM_LIMIT, "gemm LDS tiles exceed HP_SMEM_LIMIT");

  const int tid = threadIdx.x;
  const int wl = tid & 63;    // lane in the wavefront
  const int wave = tid >> 6;  // 0..3
  const int wm = wave >> 1;   // wave rows [wm*64, wm*64+64) of the block tile
  const int wn = wave & 1;    // wave cols [wn*64, wn*64+64)
  const int fr = wl & 15;     // fragment row (A, W) = output row within a 16×16 tile
  const int fq = wl >> 4;     // k quarter of a k16 step = output column quad
  const int ktiles = (k + GEMM_BK - 1) / GEMM_BK;

  // Global → registers: 128 rows × 4 chunks of 16 B per operand, 2 per thread:
  // chunk id = tid + 256 i → row id >> 2, chunk id & 3. k % 8 == 0, so a chunk is either
  // entirely inside k or entirely past it.
  uint4 ra[2], rw[2];
  auto fetch = [&](int kt) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int id = tid + i * GEMM_THREADS;
      const int row = id >> 2;
      const int gk = kt * GEMM_BK + (id & 3) * 8;
      const bool kin = gk < k;
      const uint4 zero = {0u, 0u, 0u, 0u};
      ra[i] = (kin && bm + row < m) ? *reinterpret_cast<const uint4*>(a + (size_t)(bm + row) * k + gk) : zero;
      rw[i] = (kin && bn + row < n) ? *reinterpret_cast<const uint4*>(w + (size_t)(bn + row) * k + gk) : zero;
    }
  };
  // Registers → LDS (two 8-byte stores per chunk: padded rows are 8-byte aligned only).
  auto stash = [&]() {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int id = tid + i * GEMM_THREADS;
      const int off = (id >> 2) * GEMM_LDS + (id & 3) * 8;
      __builtin_memcpy(__builtin_assume_aligned(sA + off, 8), &ra[i], 16);
      __builtin_memcpy(__builtin_assume_aligned(sW + off, 8), &rw[i], 16);
    }
  };

  hp_f32x4 acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = hp_f32x4{0.f, 0.f, 0.f, 0.f};

  fetch(0);
  for (int kt = 0; kt < ktiles; ++kt) {
    __syncthreads();  // every wave is done reading tile kt-1
    stash();
    __syncthreads();  // tile kt is in LDS
    if (kt + 1 < ktiles) fetch(kt + 1);  // in flight under the MFMAs below
#pragma unroll
    for (int ks = 0; ks < GEMM_BK / 16; ++ks) {
      V af[4], wf[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        af[i] = hp_frag<V>(sA + (wm * 64 + i * 16 + fr) * GEMM_LDS + ks * 16 + fq * 4);
        wf[i] = hp_frag<V>(sW + (wn * 64 + i * 16 + fr) * GEMM_LDS + ks * 16 + fq * 4);
      }
#pragma unroll
      for (int mi = 0; mi < 4; ++mi)
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) hp_mma(acc[mi][ni], wf[ni], af[mi]);
    }
  }

  // Epilogue: acc[mi][ni][r] = C[bm + wm·64 + mi·16 + fr][bn + wn·64 + ni·16 + 4·fq + r].
  const bool quad_ok = (n & 3) == 0;  // then row·n + col (col % 4 == 0) is 8-byte aligned
#pragma unroll
  for (int mi = 0; mi < 4; ++mi) {
    const int row = bm + wm * 64 + mi * 16 + fr;
    if (row >= m) continue;
    T* crow = c + (size_t)row * n;
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
      const int col = bn + wn * 64 + ni * 16 + 4 * fq;
      if (quad_ok) {
        if (col < n) {  // n % 4 == 0 and col % 4 == 0 ⇒ col + 3 < n
          gemm_quad<T> q;
#pragma unroll
          for (int r = 0; r < 4; ++r) q.v[r] = hp_from_float<T>(acc[mi][ni][r]);
          *reinterpret_cast<gemm_quad<T>*>(crow + col) = q;
        }
      } else {
#pragma unroll
        for (int r = 0; r < 4; ++r)
          if (col + r < n) crow[col + r] = hp_from_float<T>(acc[mi][ni][r]);
      }
    }
  }
#else
  // Scalar fallback (HIP targets without MFMA): one output per thread per step.
  for (int idx = threadIdx.x; idx < GEMM_BM * GEMM_BN; idx += GEMM_THREADS) {
    const int row = bm + idx / GEMM_BN;
    const int col = bn + idx % GEMM_BN;
    if (row < m && col < n) {
      const T* ar = a + (size_t)row * k;
      const T* wr = w + (size_t)col * k;
      float s = 0.f;
      for (int i = 0; i < k; ++i) s += hp_to_float(ar[i]) * hp_to_float(wr[i]);
      c[(size_t)row * n + col] = hp_from_float<T>(s);
    }
  }
#endif
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
    hp_gemm_f16(const f16_t* a, const f16_t* w, f16_t* c, int m, int n, int k) {
  gemm_tn<f16_t>(a, w, c, m, n, k);
}

extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
    hp_gemm_bf16(const bf16_t* a, const bf16_t* w, bf16_t* c, int m, int n, int k) {
  gemm_tn<bf16_t>(a, w, c, m, n, k);
}
