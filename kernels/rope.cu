// rope.cu — rotary position embedding of q and k, vLLM's rotary_embedding / FlashInfer's
// apply_rope_with_cos_sin_cache. Contract: kernels/README.md.
//   qk_in, qk_out: [tokens][heads][head_dim], heads = heads_q + heads_kv (q heads, then k)
//   positions:     [tokens] (i32, each in 0..max_position)
//   cos_sin:       [max_position][rotary_dim] f32: cos(p·θ_i) for i < r/2, then sin(p·θ_i)
// Every head of token t is rotated by the row of positions[t] over its first r = rotary_dim
// elements; elements r.. are copied. Pairs: NeoX (gptj = 0) (x[i], x[i + r/2]), GPT-J
// (gptj = 1) (x[2i], x[2i+1]), pair i by θ_i: x' = x·cos − y·sin, y' = y·cos + x·sin in f32,
// rounded once to T.
//
// IN PLACE: qk_in and qk_out may be the same pointer (serving rotates q and k in place).
// Every element is read and then written by the one thread that owns its unit (its pair,
// or its vector and, in NeoX, the partner vector r/2 further), and no thread reads an element
// another thread writes; so neither pointer is __restrict__ and qk_in is not read through the
// read-only cache (__ldg). The benchmark runs it out of place (the same traffic, and the
// rotation sets stay valid for the check); the emulator checks both.
//
// Units: on the vector path (head_dim a multiple of V = 16/sizeof(T), and r/2 (NeoX) or r
// (GPT-J) too) a unit is one 16-byte vector (NeoX: and its partner), else one pair or one
// copied element. Units of a head: NeoX r/(2V) + (d − r)/V, GPT-J d/V; element path
// r/2 + (d − r). A token has heads·units of them; ⌈heads·units/128⌉ blocks of 128 per token,
// block b taking token b / ⌈heads·units/128⌉, one unit per thread.
#include "hotpath_common.cuh"

#define HP_ROPE_THREADS 128

// N cos (or sin) values from the cache, aligned to N floats on the vector path.
template <int N> __device__ __forceinline__ void hp_rope_cs(const float* p, float (&v)[N]) {
  if constexpr (N % 4 == 0) {
#pragma unroll
    for (int j = 0; j < N; j += 4) {
      const float4 f = __ldg(reinterpret_cast<const float4*>(p + j));
      v[j] = f.x, v[j + 1] = f.y, v[j + 2] = f.z, v[j + 3] = f.w;
    }
  } else if constexpr (N == 2) {
    const float2 f = __ldg(reinterpret_cast<const float2*>(p));
    v[0] = f.x, v[1] = f.y;
  } else {
#pragma unroll
    for (int j = 0; j < N; ++j) v[j] = __ldg(p + j);
  }
}

// x' = x·c − y·s and y' = y·c + x·s, rounded to T.
template <typename T> __device__ __forceinline__ void hp_rope_rot(T& x, T& y, float c, float s) {
  const float xf = hp_to_float(x), yf = hp_to_float(y);
  x = hp_from_float<T>(xf * c - yf * s);
  y = hp_from_float<T>(yf * c + xf * s);
}

// Vector path, unit u of a head at x (read) / y (written), cache row cs.
template <typename T>
__device__ __forceinline__ void hp_rope_vec(const T* x, T* y, const float* cs, int u, int rotary_dim, bool gptj) {
  constexpr int V = 16 / sizeof(T);
  const int half = rotary_dim / 2;
  const int rot_units = gptj ? rotary_dim / V : half / V;
  if (u >= rot_units) {  // a copied vector past rotary_dim
    const int e = rotary_dim + (u - rot_units) * V;
    const uint4 v = *reinterpret_cast<const uint4*>(x + e);
    *reinterpret_cast<uint4*>(y + e) = v;
    return;
  }
  if (gptj) {  // V elements = V/2 adjacent pairs, pairs u·V/2 ..
    uint4 a = *reinterpret_cast<const uint4*>(x + u * V);
    float c[V / 2], s[V / 2];
    hp_rope_cs<V / 2>(cs + u * (V / 2), c);
    hp_rope_cs<V / 2>(cs + half + u * (V / 2), s);
    T* ae = reinterpret_cast<T*>(&a);
#pragma unroll
    for (int j = 0; j < V / 2; ++j) hp_rope_rot(ae[2 * j], ae[2 * j + 1], c[j], s[j]);
    *reinterpret_cast<uint4*>(y + u * V) = a;
  } else {  // V pairs (u·V + j, u·V + j + r/2)
    uint4 a = *reinterpret_cast<const uint4*>(x + u * V);
    uint4 b = *reinterpret_cast<const uint4*>(x + half + u * V);
    float c[V], s[V];
    hp_rope_cs<V>(cs + u * V, c);
    hp_rope_cs<V>(cs + half + u * V, s);
    T* ae = reinterpret_cast<T*>(&a);
    T* be = reinterpret_cast<T*>(&b);
#pragma unroll
    for (int j = 0; j < V; ++j) hp_rope_rot(ae[j], be[j], c[j], s[j]);
    *reinterpret_cast<uint4*>(y + u * V) = a;
    *reinterpret_cast<uint4*>(y + half + u * V) = b;
  }
}

// Element path, unit u: pair u, or element r + (u − r/2) copied.
template <typename T>
__device__ __forceinline__ void hp_rope_elem(const T* x, T* y, const float* cs, int u, int rotary_dim, bool gptj) {
  const int half = rotary_dim / 2;
  if (u >= half) {
    const int e = rotary_dim + (u - half);
    const T v = x[e];
    y[e] = v;
    return;
  }
  const int i0 = gptj ? 2 * u : u, i1 = gptj ? 2 * u + 1 : u + half;
  const float xf = hp_to_float(x[i0]), yf = hp_to_float(x[i1]);
  const float c = __ldg(cs + u), s = __ldg(cs + half + u);
  y[i0] = hp_from_float<T>(xf * c - yf * s);  // both read before either is written
  y[i1] = hp_from_float<T>(yf * c + xf * s);
}

template <typename T>
__device__ __forceinline__ void hp_rope_impl(const int* __restrict__ positions, const T* qk_in,
                                             const float* __restrict__ cos_sin, T* qk_out, int tokens, int heads,
                                             int head_dim, int rotary_dim, int gptj_flag) {
  constexpr int V = 16 / sizeof(T);
  const bool gptj = gptj_flag != 0;
  const bool vec = head_dim % V == 0 && (gptj ? rotary_dim : rotary_dim / 2) % V == 0;
  const int units = vec ? (gptj ? head_dim / V : rotary_dim / 2 / V + (head_dim - rotary_dim) / V)
                        : rotary_dim / 2 + (head_dim - rotary_dim);
  const int per_token = heads * units;
  const int chunks = (per_token + HP_ROPE_THREADS - 1) / HP_ROPE_THREADS;
  const int t = blockIdx.x / chunks;
  const int i = (blockIdx.x % chunks) * HP_ROPE_THREADS + threadIdx.x;
  if (t >= tokens || i >= per_token) return;
  const int h = i / units, u = i % units;
  const long long head = ((long long)t * heads + h) * head_dim;
  const float* cs = cos_sin + (long long)__ldg(positions + t) * rotary_dim;
  if (vec) {
    hp_rope_vec<T>(qk_in + head, qk_out + head, cs, u, rotary_dim, gptj);
  } else {
    hp_rope_elem<T>(qk_in + head, qk_out + head, cs, u, rotary_dim, gptj);
  }
}

#define HP_ROPE(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_ROPE_THREADS) \
  hp_rope_##SUFFIX(const int* __restrict__ positions, const T* qk_in, const float* __restrict__ cos_sin, T* qk_out, \
                   int tokens, int heads, int head_dim, int rotary_dim, int gptj) { \
    hp_rope_impl<T>(positions, qk_in, cos_sin, qk_out, tokens, heads, head_dim, rotary_dim, gptj); \
  }
HP_ROPE(f32, float)
HP_ROPE(f16, f16_t)
HP_ROPE(bf16, bf16_t)
