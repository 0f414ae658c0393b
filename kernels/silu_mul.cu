// silu_mul.cu — the gated-MLP activation, vLLM's silu_and_mul. Contract: kernels/README.md.
// x is [tokens][2·I]: the gate is the first I values of a row, up the last I; out is
// [tokens][I] with out = silu(gate)·up, silu(g) = g / (1 + e^(−g)), in f32, rounded once to T.
// A row is cut into units, one per thread: 16-byte vectors of 16/sizeof(T) outputs when I is
// a multiple of that (every row of gate, up and out then starts on a vector), else single
// elements. ⌈units/256⌉ blocks of 256 per row, block b taking row b / ⌈units/256⌉: no loop,
// so every thread has its three accesses in flight at once.
#include "hotpath_common.cuh"

#define HP_SM_THREADS 256

// A read-only input access: the vector path's 16 bytes in one load (__ldg).
__device__ __forceinline__ uint4 hp_sm_load(const uint4* p) { return __ldg(p); }
template <typename T> __device__ __forceinline__ T hp_sm_load(const T* p) { return *p; }

// silu(g)·u on each of the access's elements, rounded once to T.
template <typename T, typename A>
__device__ __forceinline__ A hp_sm_apply(const A g, const A u) {
  constexpr int V = sizeof(A) / sizeof(T);
  const T* ge = reinterpret_cast<const T*>(&g);
  const T* ue = reinterpret_cast<const T*>(&u);
  A y;
  T* ye = reinterpret_cast<T*>(&y);
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const float gf = hp_to_float(ge[j]);
    ye[j] = hp_from_float<T>(gf / (1.f + expf(-gf)) * hp_to_float(ue[j]));
  }
  return y;
}

// Unit i of row t, a row holding n units of A (I = n · sizeof(A)/sizeof(T)).
template <typename T, typename A>
__device__ __forceinline__ void hp_sm_unit(const T* __restrict__ x, T* __restrict__ out, int t, int i, int n) {
  constexpr int V = sizeof(A) / sizeof(T);
  const long long I = (long long)n * V;
  const A* gate = reinterpret_cast<const A*>(x + (long long)t * 2 * I);
  const A* up = reinterpret_cast<const A*>(x + (long long)t * 2 * I + I);
  A* o = reinterpret_cast<A*>(out + (long long)t * I);
  o[i] = hp_sm_apply<T>(hp_sm_load(gate + i), hp_sm_load(up + i));
}

template <typename T>
__device__ __forceinline__ void hp_silu_mul_impl(const T* __restrict__ x, T* __restrict__ out, int tokens,
                                                 int intermediate) {
  constexpr int V = 16 / sizeof(T);
  const bool vec = intermediate % V == 0;
  const int n = vec ? intermediate / V : intermediate;
  const int chunks = (n + HP_SM_THREADS - 1) / HP_SM_THREADS;
  const int t = blockIdx.x / chunks;
  const int i = (blockIdx.x % chunks) * HP_SM_THREADS + threadIdx.x;
  if (t >= tokens || i >= n) return;
  if (vec) {
    hp_sm_unit<T, uint4>(x, out, t, i, n);
  } else {
    hp_sm_unit<T, T>(x, out, t, i, n);
  }
}

#define HP_SILU_MUL(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_SM_THREADS) \
  hp_silu_mul_##SUFFIX(const T* __restrict__ x, T* __restrict__ out, int tokens, int intermediate) { \
    hp_silu_mul_impl<T>(x, out, tokens, intermediate); \
  }
HP_SILU_MUL(f32, float)
HP_SILU_MUL(f16, f16_t)
HP_SILU_MUL(bf16, bf16_t)
