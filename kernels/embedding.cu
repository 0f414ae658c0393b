// embedding.cu — the token-embedding gather, out[t] = table[ids[t]] (a row of zeros for an id
// outside 0..vocab, as a vocabulary-parallel shard masks the ids it does not own). Contract:
// kernels/README.md. One block of 128 threads per token; rows whose size is a multiple of 16
// bytes move as 16-byte vectors, others element by element.
#include "hotpath_common.cuh"

#define HP_EMB_THREADS 128

template <typename T>
__device__ __forceinline__ void hp_embedding_impl(const int* __restrict__ ids, const T* __restrict__ table,
                                                  T* __restrict__ out, int tokens, int hidden, int vocab) {
  const int t = blockIdx.x;
  if (t >= tokens) return;
  const int id = ids[t];
  const bool inside = id >= 0 && id < vocab;
  T* dst = out + (long long)t * hidden;
  const T* src = table + (long long)(inside ? id : 0) * hidden;
  if ((hidden * (int)sizeof(T)) % 16 == 0) {
    const int n = hidden * (int)sizeof(T) / 16;
    const uint4* s = reinterpret_cast<const uint4*>(src);
    uint4* d = reinterpret_cast<uint4*>(dst);
    uint4 zero;
    zero.x = zero.y = zero.z = zero.w = 0u;
    for (int i = threadIdx.x; i < n; i += blockDim.x) d[i] = inside ? __ldg(s + i) : zero;
  } else {
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = inside ? src[i] : hp_from_float<T>(0.f);
  }
}

#define HP_EMBEDDING(SUFFIX, T) \
  extern "C" __global__ void __launch_bounds__(HP_EMB_THREADS) \
  hp_embedding_##SUFFIX(const int* __restrict__ ids, const T* __restrict__ table, T* __restrict__ out, int tokens, \
                        int hidden, int vocab) { \
    hp_embedding_impl<T>(ids, table, out, tokens, hidden, vocab); \
  }
HP_EMBEDDING(f32, float)
HP_EMBEDDING(f16, f16_t)
HP_EMBEDDING(bf16, bf16_t)
