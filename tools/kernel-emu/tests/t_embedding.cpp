// embedding.cu: hp_embedding_* (out[t] = table[ids[t]], zeros for an id outside the table),
// launched from core's plans.
#include "common.h"
#include "gen/embedding.cu"
using namespace emu_test;
using namespace emu_embedding;

EMU_KERNEL(hp_embedding_f32);
EMU_KERNEL(hp_embedding_f16);
EMU_KERNEL(hp_embedding_bf16);

// `outside` ids are replaced by −1 or vocab (alternately): their rows must come out zero.
template <typename T> static void one(int tokens, int hidden, int vocab, int outside, std::mt19937_64& rng) {
  const std::string shape = fmt("%s T=%d h=%d vocab=%d%s%s", dname<T>(), tokens, hidden, vocab,
                                (hidden * (int)sizeof(T)) % 16 ? " (element path)" : "",
                                outside ? fmt(" outside=%d", outside).c_str() : "");
  const EmuPlan* p = emu_plan(fmt("embedding tokens=%d,hidden=%d,vocab=%d %s", tokens, hidden, vocab, dname<T>()));
  if (!p) return;
  Arena ar;
  auto table = uniform<T>((size_t)vocab * hidden, rng);
  auto perm = permutation(vocab, rng);
  std::vector<int> ids(perm.begin(), perm.begin() + tokens);
  for (int i = 0; i < outside && i < tokens; ++i) ids[(i * 7919) % tokens] = i % 2 ? vocab : -1;
  EmuRun run;
  emu_run(*p, {{"ids", ar.upload(ids)}, {"table", ar.upload(table)}}, run);
  std::vector<double> ref((size_t)tokens * hidden, 0.0);
  for (int t = 0; t < tokens; ++t)
    if (ids[t] >= 0 && ids[t] < vocab)
      for (int e = 0; e < hidden; ++e) ref[(size_t)t * hidden + e] = f64(table[(size_t)ids[t] * hidden + e]);
  check(std::string("embedding ") + dname<T>(), shape, (const T*)run.outputs[p->check_index], ref);
}

template <typename T> static void all(std::mt19937_64& rng) {
  one<T>(1, 8, 3, 0, rng);
  one<T>(7, 5, 40, 0, rng);        // element path
  one<T>(33, 4096, 100, 0, rng);   // rows of 32 vectors per thread group pass
  one<T>(20, 136, 50, 6, rng);     // ids outside the table
  one<T>(5, 2056, 9, 2, rng);
}

EMU_TEST(embedding, seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
