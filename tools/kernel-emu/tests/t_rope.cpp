// rope.cu: hp_rope_* (rotary embedding of q and k from a cos/sin cache), launched from core's
// plans, out of place as the benchmark runs it and in place as serving does (the plan's output
// pointer rebound to the qk input: the kernel must read each element before writing it).
#include "common.h"
#include "gen/rope.cu"
using namespace emu_test;
using namespace emu_rope;

EMU_KERNEL(hp_rope_f32);
EMU_KERNEL(hp_rope_f16);
EMU_KERNEL(hp_rope_bf16);

struct Rope {
  int tokens, hq, hkv, d, r, max_pos, gptj;
};

// The cache of crates/core/src/ops/rope.rs, computed here on its own: row p holds
// cos(p·θ_i) for i < r/2, then sin(p·θ_i), θ_i = 10000^(−2i/r), in f64 rounded to f32.
static std::vector<float> cos_sin(int max_pos, int r) {
  std::vector<float> cs((size_t)max_pos * r);
  for (int p = 0; p < max_pos; ++p) {
    for (int i = 0; i < r / 2; ++i) {
      const double a = p * std::pow(10000.0, -2.0 * i / r);
      cs[(size_t)p * r + i] = (float)std::cos(a);
      cs[(size_t)p * r + r / 2 + i] = (float)std::sin(a);
    }
  }
  return cs;
}

// The plan with its output pointer replaced by the qk input: the kernel then works in place.
static EmuPlan in_place(const EmuPlan& p) {
  EmuPlan q = p;
  const auto qk = std::find(p.inputs.begin(), p.inputs.end(), "qk");
  if (qk == p.inputs.end()) emu_fail("the rope plan has no qk input");
  const std::string out = fmt("out:%d", p.check_index), in = fmt("in:%d", (int)(qk - p.inputs.begin()));
  int rebound = 0;
  for (EmuPlanStep& s : q.steps)
    for (std::string& a : s.args)
      if (a == out) a = in, ++rebound;
  if (rebound != 1) emu_fail("the rope plan passes its output %d times, expected once", rebound);
  return q;
}

template <typename T> static void one(const Rope& c, bool inplace, std::mt19937_64& rng) {
  const int heads = c.hq + c.hkv, V = 16 / (int)sizeof(T);
  const bool vec = c.d % V == 0 && (c.gptj ? c.r : c.r / 2) % V == 0;
  const std::string shape = fmt("%s T=%d h=%d+%d d=%d r=%d %s%s%s", dname<T>(), c.tokens, c.hq, c.hkv, c.d, c.r,
                                c.gptj ? "gptj" : "neox", vec ? "" : " (element path)", inplace ? " in place" : "");
  const EmuPlan* p = emu_plan(fmt("rope tokens=%d,heads_q=%d,heads_kv=%d,head_dim=%d,rotary_dim=%d,max_position=%d,gptj=%d %s",
                                  c.tokens, c.hq, c.hkv, c.d, c.r, c.max_pos, c.gptj, dname<T>()));
  if (!p) return;
  Arena ar;
  const size_t n = (size_t)c.tokens * heads * c.d;
  auto qk = uniform<T>(n, rng);
  // Random positions, the last row of the cache and row 0 among them.
  std::vector<int> pos(c.tokens);
  std::uniform_int_distribution<int> draw(0, c.max_pos - 1);
  for (int& x : pos) x = draw(rng);
  pos[0] = c.max_pos - 1;
  pos[c.tokens - 1] = c.tokens > 1 ? 0 : pos[0];
  const auto cs = cos_sin(c.max_pos, c.r);
  T* qk_dev = ar.upload(qk);
  EmuRun run;
  const std::map<std::string, void*> inputs = {{"positions", ar.upload(pos)}, {"qk", qk_dev}, {"cos_sin", ar.upload(cs)}};
  if (inplace) {
    emu_run(in_place(*p), inputs, run);
  } else {
    emu_run(*p, inputs, run);
  }
  // f64 reference: the stored q/k rotated by the stored cache row.
  std::vector<double> ref(n);
  const int half = c.r / 2;
  for (int t = 0; t < c.tokens; ++t) {
    const float* row = &cs[(size_t)pos[t] * c.r];
    for (int h = 0; h < heads; ++h) {
      const size_t base = ((size_t)t * heads + h) * c.d;
      for (int e = 0; e < c.d; ++e) ref[base + e] = f64(qk[base + e]);
      for (int i = 0; i < half; ++i) {
        const int a = c.gptj ? 2 * i : i, b = c.gptj ? 2 * i + 1 : i + half;
        const double x = f64(qk[base + a]), y = f64(qk[base + b]), cos = row[i], sin = row[half + i];
        ref[base + a] = x * cos - y * sin;
        ref[base + b] = y * cos + x * sin;
      }
    }
  }
  const T* out = inplace ? qk_dev : (const T*)run.outputs[p->check_index];
  check(std::string("rope ") + dname<T>(), shape, out, ref);
}

template <typename T> static void all(std::mt19937_64& rng) {
  // Llama-3.1-8B heads (40 a token: 3 blocks of units in bf16, 5 in f32) in both layouts;
  // partial rotations on the vector path; r = 8, where GPT-J's rotated part is one vector of
  // 16-bit T but NeoX's halves of 4 are not (element path); heads of 6 (element path in every
  // dtype); heads of 256; one token; many tokens of small heads.
  const Rope cases[] = {
      {3, 32, 8, 128, 128, 64, 0}, {3, 32, 8, 128, 128, 64, 1}, {2, 4, 2, 128, 64, 100, 0},
      {2, 4, 2, 128, 64, 100, 1},  {3, 2, 1, 64, 8, 9, 0},      {3, 2, 1, 64, 8, 9, 1},
      {5, 3, 1, 6, 2, 7, 0},       {5, 3, 1, 6, 2, 7, 1},       {2, 8, 1, 256, 256, 33, 0},
      {1, 32, 8, 128, 128, 4096, 0}, {70, 2, 2, 16, 16, 500, 1},
  };
  for (const Rope& c : cases) one<T>(c, false, rng);
  // In place: the vector path in both layouts, and the element path.
  one<T>(cases[0], true, rng);
  one<T>(cases[1], true, rng);
  one<T>(cases[7], true, rng);
}

EMU_TEST(rope, seed) {
  std::mt19937_64 rng(seed);
  all<float>(rng);
  all<f16_t>(rng);
  all<bf16_t>(rng);
}
