// peak.cu: hp_peak_fma_f32 and hp_peak_mma_{f16,bf16,fp8}, launched from core's plans for a
// small device (1–2 SMs: the kernels do not depend on the count) to keep the emulation short.
// Compiled as sm_89, the one target with an mma.sync fp8 peak. The sm_90a wgmma peaks
// (hp_peak_wgmma_*) are not emulated: the emulator has no wgmma (kernels/README.md);
// CI checks their loops in the disassembly instead (scripts/check-peak-sass.py).
#define __CUDA_ARCH__ 890
#include "common.h"
#include "gen/peak.cu"
using namespace emu_test;
using namespace emu_peak;

EMU_KERNEL(hp_peak_fma_f32);
EMU_KERNEL(hp_peak_mma_f16);
EMU_KERNEL(hp_peak_mma_bf16);
EMU_KERNEL(hp_peak_mma_fp8);

static const float PEAK_ALPHA = 1.0f - 1.0f / 1024.0f, PEAK_BETA = 1.0f / 1024.0f;  // inputs.rs

// Every lane of a tensor-core peak must end at iters·2⁻⁶ exactly.
static void mma(const char* dtype, int iters) {
  const EmuPlan* p = emu_plan(fmt("peak_mma iters=%d %s arch=sm_89 units=1", iters, dtype));
  if (!p) return;
  const std::string grp = std::string("peak mma ") + dtype;
  if (!p->error.empty()) return record(grp, fmt("iters=%d", iters), false, INFINITY, "refused: " + p->error);
  EmuRun run;
  emu_run(*p, {}, run);
  const size_t lanes = p->outputs[p->check_index] / 4;
  const float* out = (const float*)run.outputs[p->check_index];
  const float want = (float)iters / 64.0f;  // exact
  size_t wrong = 0;
  for (size_t i = 0; i < lanes; ++i) wrong += out[i] != want;
  const std::string shape = fmt("iters=%d lanes=%zu, lanes != iters*2^-6 exactly: %zu", iters, lanes, wrong);
  check(grp, shape, out, std::vector<double>(lanes, want), 1e-8);
  if (wrong) record(grp, shape + " (exactness)", false, 0);
}

EMU_TEST(peak, seed) {
  const int iters = 1000;
  if (const EmuPlan* p = emu_plan(fmt("peak_mma iters=%d f32 arch=sm_89 units=2", iters))) {
    EmuRun run;
    emu_run(*p, {}, run);
    const size_t lanes = p->outputs[p->check_index] / 4;
    const float* out = (const float*)run.outputs[p->check_index];
    const double closed = 1.0 - std::pow((double)PEAK_ALPHA, iters);  // reference/stream.rs
    float chain = 0.f;  // the same f32 chain on the host: must match bit for bit
    for (int i = 0; i < iters; ++i) chain = fmaf(chain, PEAK_ALPHA, PEAK_BETA);
    size_t wrong = 0;
    for (size_t i = 0; i < lanes; ++i) wrong += out[i] != chain;
    check("peak hp_peak_fma_f32", fmt("iters=%d lanes=%zu, lanes != host fmaf chain: %zu", iters, lanes, wrong), out,
          std::vector<double>(lanes, closed));
    if (wrong) record("peak hp_peak_fma_f32", "bitwise vs host chain", false, 0);
  }
  for (int n : {1, 37, 129}) {
    mma("f16", n);
    mma("bf16", n);
    mma("fp8_e4m3", n);
  }
}
