// peak.cu: hp_peak_fma_f32 and hp_peak_mma_{f16,bf16,fp8}. Geometry 4·SMs × 256 with a small
// SM count (the kernels do not depend on it) to keep the emulation short.
#include "common.h"
#include "gen/peak.cu"
using namespace emu_test;
using namespace emu_peak;

static const float PEAK_ALPHA = 1.0f - 1.0f / 1024.0f, PEAK_BETA = 1.0f / 1024.0f;  // inputs.rs

static void mma(const char* name, void (*kernel)(float*, int), int iters, unsigned sms) {
  Arena ar;
  const emu_dim3 g = geo_peak(sms);
  const size_t lanes = (size_t)g.x * (256 / 32) * 512;
  float* out = ar.alloc<float>(lanes, 0xff);
  emu_launch_named(name, g, threads(256), kernel, out, iters);
  const float want = (float)iters / 64.0f;  // iters·2⁻⁶, exact
  size_t wrong = 0;
  for (size_t i = 0; i < lanes; ++i) wrong += out[i] != want;
  std::vector<double> ref(lanes, want);
  const std::string shape = fmt("iters=%d blocks=%u lanes=%zu, lanes != iters*2^-6 exactly: %zu", iters, g.x, lanes, wrong);
  check(std::string("peak ") + name, shape, out, ref, 1e-8);
  if (wrong) record(std::string("peak ") + name, shape + " (exactness)", false, 0);
}

void test_peak(uint64_t) {
  {
    Arena ar;
    const unsigned sms = 2;
    const int iters = 1000;
    const emu_dim3 g = geo_peak(sms);
    const size_t lanes = (size_t)g.x * 256 * 8;
    float* out = ar.alloc<float>(lanes, 0xff);
    emu_launch(hp_peak_fma_f32, g, threads(256), out, iters);
    const double closed = 1.0 - std::pow((double)PEAK_ALPHA, iters);  // reference/stream.rs
    float chain = 0.f;  // the same f32 chain on the host: must match bit for bit
    for (int i = 0; i < iters; ++i) chain = fmaf(chain, PEAK_ALPHA, PEAK_BETA);
    size_t wrong = 0;
    for (size_t i = 0; i < lanes; ++i) wrong += out[i] != chain;
    check("peak hp_peak_fma_f32", fmt("iters=%d lanes=%zu, lanes != host fmaf chain: %zu", iters, lanes, wrong), out,
          std::vector<double>(lanes, closed));
    if (wrong) record("peak hp_peak_fma_f32", "bitwise vs host chain", false, 0);
  }
  for (int iters : {1, 37, 129}) {
    mma("hp_peak_mma_f16", &hp_peak_mma_f16, iters, 1);
    mma("hp_peak_mma_bf16", &hp_peak_mma_bf16, iters, 1);
    mma("hp_peak_mma_fp8", &hp_peak_mma_fp8, iters, 1);
  }
}
