// moe_gemm.cu — mixture-of-experts grouped GEMM y[t] = Σ_j topk_weights[t,j]·(x[t]·w[topk_ids[t,j]]^T).
// Contract: kernels/README.md. Three launches (vLLM's moe_align_block_size + fused_moe, with an
// f32 per-(token, slot) buffer in place of an in-kernel atomic combine):
//  1. hp_moe_gemm_align: one block counts the (token, slot) pairs per expert, writes the experts'
//     offsets (prefix sum) and the pairs grouped by expert (`sorted`).
//  2. hp_moe_gemm_gemv_* (few rows per expert: decode) or hp_moe_gemm_tile_* (many: prefill): one block
//     per (n tile, expert); an idle expert's blocks read two offsets and return. Rows are
//     gathered through `sorted` (pair p is token p / top_k); each pair's f32 result row goes to
//     ws[p][n].
//  3. hp_moe_gemm_combine_*: y[t][c] = Σ_j topk_weights[t,j]·ws[t·top_k + j][c], rounded once.
#include "hotpath_common.cuh"

#define HP_MOE_THREADS 256
#define HP_MOE_MAX_EXPERTS 4096  // the align kernel's counters (16 KB of shared memory)
#define HP_MOE_GEMV_ROWS 8       // weight rows per gemv block: one warp each
#define HP_MOE_GEMV_M 4          // pair rows per weight load in the gemv
#define HP_MOE_BM 128            // tile: pair rows
#define HP_MOE_BN 64             // tile: output columns
#define HP_MOE_BK 32             // tile: k step

// ---------------------------------------------------------------- 1. align
// offsets[e] = first position of expert e's pairs in sorted, offsets[E] = pairs counted; ids
// outside 0..E are not routed (and the combine skips them). The order inside one expert is
// whatever the atomics give: every pair writes its own row of ws, so results do not depend on it.
__device__ __forceinline__ void hp_moe_gemm_align_impl(const int* __restrict__ ids, int* __restrict__ offsets,
                                                  int* __restrict__ sorted, int pairs, int experts) {
  __shared__ int cursor[HP_MOE_MAX_EXPERTS];
  for (int e = threadIdx.x; e < experts; e += blockDim.x) cursor[e] = 0;
  __syncthreads();
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
    const int e = ids[p];
    if (e >= 0 && e < experts) atomicAdd(&cursor[e], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {  // E ≤ 4096 adds: a few µs at most, 256 (DeepSeek-V3) well under one
    int run = 0;
    for (int e = 0; e < experts; ++e) {
      const int c = cursor[e];
      offsets[e] = run;
      cursor[e] = run;
      run += c;
    }
    offsets[experts] = run;
  }
  __syncthreads();
  for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
    const int e = ids[p];
    if (e >= 0 && e < experts) sorted[atomicAdd(&cursor[e], 1)] = p;
  }
}

extern "C" __global__ void __launch_bounds__(HP_MOE_THREADS)
hp_moe_gemm_align(const int* __restrict__ ids, int* __restrict__ offsets, int* __restrict__ sorted, int pairs, int experts) {
  hp_moe_gemm_align_impl(ids, offsets, sorted, pairs, experts);
}

// ---------------------------------------------------------------- 2a. gemv (decode)
// Warp `lane/32` of the block takes weight row `col` of expert e against M gathered pair rows
// `pos..pos+M` of sorted: every weight vector loaded once feeds the M rows.
template <typename T, int M>
__device__ __forceinline__ void hp_moe_gemm_gemv_rows(const T* __restrict__ x, const T* __restrict__ wr,
                                                 const int* __restrict__ sorted, float* __restrict__ ws, int pos,
                                                 int top_k, int n, int k, int col) {
  constexpr int E = 16 / sizeof(T);
  const int lane = threadIdx.x % 32;
  int pair[M];
  const T* xr[M];
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) {
    pair[i] = sorted[pos + i];
    xr[i] = x + (long long)(pair[i] / top_k) * k;
    acc[i] = 0.f;
  }
  int kk = lane * E;
  for (; kk + 32 * E < k; kk += 64 * E) {  // two weight vectors in flight per lane
    const uint4 w0 = __ldg(reinterpret_cast<const uint4*>(wr + kk));
    const uint4 w1 = __ldg(reinterpret_cast<const uint4*>(wr + kk + 32 * E));
#pragma unroll
    for (int i = 0; i < M; ++i) {
      const uint4 x0 = __ldg(reinterpret_cast<const uint4*>(xr[i] + kk));
      const uint4 x1 = __ldg(reinterpret_cast<const uint4*>(xr[i] + kk + 32 * E));
      acc[i] += hp_dot16<T>(w0, x0) + hp_dot16<T>(w1, x1);
    }
  }
  if (kk < k) {
    const uint4 w0 = __ldg(reinterpret_cast<const uint4*>(wr + kk));
#pragma unroll
    for (int i = 0; i < M; ++i) acc[i] += hp_dot16<T>(w0, __ldg(reinterpret_cast<const uint4*>(xr[i] + kk)));
  }
#pragma unroll
  for (int i = 0; i < M; ++i) {
    const float s = hp_warp_sum(acc[i]);
    if (lane == 0) ws[(long long)pair[i] * n + col] = s;
  }
}

template <typename T>
__device__ __forceinline__ void hp_moe_gemm_gemv_impl(const T* __restrict__ x, const T* __restrict__ w,
                                                 const int* __restrict__ offsets, const int* __restrict__ sorted,
                                                 float* __restrict__ ws, int top_k, int n, int k) {
  const int e = blockIdx.y;
  const int first = offsets[e], rows = offsets[e + 1] - first;
  const int col = blockIdx.x * HP_MOE_GEMV_ROWS + threadIdx.x / 32;
  if (rows <= 0 || col >= n) return;  // idle expert, or a row past n; no block barrier follows
  const T* wr = w + ((long long)e * n + col) * k;
  int r = 0;
  for (; r + HP_MOE_GEMV_M <= rows; r += HP_MOE_GEMV_M)
    hp_moe_gemm_gemv_rows<T, HP_MOE_GEMV_M>(x, wr, sorted, ws, first + r, top_k, n, k, col);
  switch (rows - r) {
    case 1: hp_moe_gemm_gemv_rows<T, 1>(x, wr, sorted, ws, first + r, top_k, n, k, col); break;
    case 2: hp_moe_gemm_gemv_rows<T, 2>(x, wr, sorted, ws, first + r, top_k, n, k, col); break;
    case 3: hp_moe_gemm_gemv_rows<T, 3>(x, wr, sorted, ws, first + r, top_k, n, k, col); break;
    default: break;
  }
}

// ---------------------------------------------------------------- 2b. tiled gemm (prefill)
// CUDA cores: a 128-row × 64-column tile per step, k in steps of 32 through shared memory
// (f32, 25 KB), 16×16 threads each holding 8 rows × 4 columns. The block walks its expert's row
// tiles, so its 64 weight rows are streamed once per 128 gathered pair rows.
template <typename T>
__device__ __forceinline__ void hp_moe_gemm_tile_impl(const T* __restrict__ x, const T* __restrict__ w,
                                                 const int* __restrict__ offsets, const int* __restrict__ sorted,
                                                 float* __restrict__ ws, int top_k, int n, int k) {
  __shared__ float xs[HP_MOE_BK][HP_MOE_BM + 4];
  __shared__ float wt[HP_MOE_BK][HP_MOE_BN + 4];
  __shared__ int tok[HP_MOE_BM];
  const int e = blockIdx.y;
  const int first = offsets[e], rows = offsets[e + 1] - first;
  if (rows <= 0) return;  // idle expert: the whole block leaves before any barrier
  const int c0 = blockIdx.x * HP_MOE_BN;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const T* we = w + (long long)e * n * k;
  for (int r0 = 0; r0 < rows; r0 += HP_MOE_BM) {
    const int tile_rows = min(HP_MOE_BM, rows - r0);
    __syncthreads();  // the previous tile's readers of tok are done
    for (int i = threadIdx.x; i < HP_MOE_BM; i += HP_MOE_THREADS)
      tok[i] = i < tile_rows ? sorted[first + r0 + i] / top_k : -1;
    float acc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;
    for (int k0 = 0; k0 < k; k0 += HP_MOE_BK) {
      __syncthreads();  // tok written; the previous step's readers of xs and wt are done
      for (int i = threadIdx.x; i < HP_MOE_BM * HP_MOE_BK; i += HP_MOE_THREADS) {
        const int r = i / HP_MOE_BK, kk = i % HP_MOE_BK;
        const int t = tok[r];
        xs[kk][r] = (t >= 0 && k0 + kk < k) ? hp_to_float(x[(long long)t * k + k0 + kk]) : 0.f;
      }
      for (int i = threadIdx.x; i < HP_MOE_BN * HP_MOE_BK; i += HP_MOE_THREADS) {
        const int c = i / HP_MOE_BK, kk = i % HP_MOE_BK;
        wt[kk][c] = (c0 + c < n && k0 + kk < k) ? hp_to_float(we[(long long)(c0 + c) * k + k0 + kk]) : 0.f;
      }
      __syncthreads();
#pragma unroll 4
      for (int kk = 0; kk < HP_MOE_BK; ++kk) {
        float a[8], b[4];
#pragma unroll
        for (int i = 0; i < 8; ++i) a[i] = xs[kk][ty * 8 + i];
#pragma unroll
        for (int j = 0; j < 4; ++j) b[j] = wt[kk][tx * 4 + j];
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
      }
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int r = ty * 8 + i;
      if (r >= tile_rows) break;
      const long long row = (long long)sorted[first + r0 + r] * n;
#pragma unroll
      for (int j = 0; j < 4; ++j)
        if (c0 + tx * 4 + j < n) ws[row + c0 + tx * 4 + j] = acc[i][j];
    }
  }
}

// ---------------------------------------------------------------- 3. combine
template <typename T>
__device__ __forceinline__ void hp_moe_gemm_combine_impl(const float* __restrict__ ws, const float* __restrict__ gates,
                                                    const int* __restrict__ ids, T* __restrict__ y, int tokens,
                                                    int top_k, int n, int experts) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (long long)tokens * n) return;
  const long long t = i / n, c = i % n;
  float s = 0.f;
  for (int j = 0; j < top_k; ++j) {
    const long long p = t * top_k + j;
    const int e = ids[p];
    if (e >= 0 && e < experts) s = fmaf(gates[p], ws[p * n + c], s);
  }
  y[i] = hp_from_float<T>(s);
}

#define HP_MOE(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_MOE_THREADS) \
  hp_moe_gemm_gemv_##SUFFIX(const T* __restrict__ x, const T* __restrict__ w, const int* __restrict__ offsets, \
                       const int* __restrict__ sorted, float* __restrict__ ws, int top_k, int n, int k) { \
    hp_moe_gemm_gemv_impl<T>(x, w, offsets, sorted, ws, top_k, n, k); \
  } \
  extern "C" __global__ void __launch_bounds__(HP_MOE_THREADS) \
  hp_moe_gemm_tile_##SUFFIX(const T* __restrict__ x, const T* __restrict__ w, const int* __restrict__ offsets, \
                       const int* __restrict__ sorted, float* __restrict__ ws, int top_k, int n, int k) { \
    hp_moe_gemm_tile_impl<T>(x, w, offsets, sorted, ws, top_k, n, k); \
  } \
  extern "C" __global__ void __launch_bounds__(HP_MOE_THREADS) \
  hp_moe_gemm_combine_##SUFFIX(const float* __restrict__ ws, const float* __restrict__ gates, const int* __restrict__ ids, \
                          T* __restrict__ y, int tokens, int top_k, int n, int experts) { \
    hp_moe_gemm_combine_impl<T>(ws, gates, ids, y, tokens, top_k, n, experts); \
  }
HP_MOE(f32, float)
HP_MOE(f16, f16_t)
HP_MOE(bf16, bf16_t)
