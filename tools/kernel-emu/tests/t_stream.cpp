// stream.cu: hp_copy, hp_write, hp_read_* + hp_reduce_partials, hp_l2_read_*, hp_triad_*,
// hp_empty, launched from core's plans.
#include "common.h"
#include "gen/stream.cu"
using namespace emu_test;
using namespace emu_stream;

EMU_KERNEL(hp_copy);
EMU_KERNEL(hp_write);
EMU_KERNEL(hp_read_f32);
EMU_KERNEL(hp_read_f16);
EMU_KERNEL(hp_read_bf16);
EMU_KERNEL(hp_reduce_partials);
EMU_KERNEL(hp_l2_read_f32);
EMU_KERNEL(hp_l2_read_f16);
EMU_KERNEL(hp_l2_read_bf16);
EMU_KERNEL(hp_triad_f32);
EMU_KERNEL(hp_triad_f16);
EMU_KERNEL(hp_triad_bf16);
EMU_KERNEL(hp_empty);

static const float WRITE_VALUE = 1.25f, TRIAD_SCALAR = 0.5f;  // crates/core/src/inputs.rs

// The plan of `op` at `shape` on a device of `sms` SMs; nullptr in the listing pass.
template <typename T> static const EmuPlan* plan_of(const char* op, const std::string& shape, unsigned sms) {
  return emu_plan(fmt("%s %s %s units=%u", op, shape.c_str(), dname<T>(), sms));
}

template <typename T> static void one(long long n, unsigned sms, std::mt19937_64& rng) {
  const std::string label = fmt("%s n=%lld sms=%u", dname<T>(), n, sms), shape = fmt("elements=%lld", n);
  if (const EmuPlan* p = plan_of<T>("copy", shape, sms)) {  // b[i] = a[i]
    Arena ar;
    auto a = uniform<T>(n, rng);
    EmuRun run;
    emu_run(*p, {{"a", ar.upload(a)}}, run);
    std::vector<double> ref(n);
    for (long long i = 0; i < n; ++i) ref[i] = f64(a[i]);
    check(std::string("copy ") + dname<T>(), label, (const T*)run.outputs[p->check_index], ref);
  }
  if (const EmuPlan* p = plan_of<T>("write", shape, sms)) {  // every element = WRITE_VALUE
    EmuRun run;
    emu_run(*p, {}, run);
    check(std::string("write ") + dname<T>(), label, (const T*)run.outputs[p->check_index],
          std::vector<double>(n, WRITE_VALUE));
  }
  if (const EmuPlan* p = plan_of<T>("read", shape, sms)) {  // a in [0,1): one sum
    Arena ar;
    auto a = uniform<T>(n, rng, 0.f, 1.f);
    EmuRun run;
    emu_run(*p, {{"a", ar.upload(a)}}, run);
    double s = 0;
    for (long long i = 0; i < n; ++i) s += f64(a[i]);
    check(std::string("read ") + dname<T>(), label, (const float*)run.outputs[p->check_index], std::vector<double>{s},
          1e-8);
  }
  if (const EmuPlan* p = plan_of<T>("triad", shape, sms)) {  // a = b + q·c
    Arena ar;
    auto b = uniform<T>(n, rng), c = uniform<T>(n, rng);
    EmuRun run;
    emu_run(*p, {{"b", ar.upload(b)}, {"c", ar.upload(c)}}, run);
    std::vector<double> ref(n);
    for (long long i = 0; i < n; ++i) ref[i] = f64(b[i]) + (double)TRIAD_SCALAR * f64(c[i]);
    check(std::string("triad ") + dname<T>(), label, (const T*)run.outputs[p->check_index], ref);
  }
}

// l2_read: `passes` reads in one launch; the last block's sum is passes·Σa. The same plan runs
// twice on the same scratch, so the arrival counter must be back at zero after a launch.
template <typename T> static void l2(long long n, int passes, unsigned sms, std::mt19937_64& rng) {
  const EmuPlan* p = plan_of<T>("l2_read", fmt("elements=%lld,passes=%d", n, passes), sms);
  if (!p) return;
  Arena ar;
  auto a = uniform<T>(n, rng, 0.f, 1.f);
  std::map<std::string, void*> in{{"a", ar.upload(a)}};
  EmuRun run;
  emu_run(*p, in, run);
  double s = 0;
  for (long long i = 0; i < n; ++i) s += f64(a[i]);
  const std::string label = fmt("%s n=%lld passes=%d sms=%u", dname<T>(), n, passes, sms);
  check(std::string("l2_read ") + dname<T>(), label, (const float*)run.outputs[p->check_index],
        std::vector<double>{s * passes}, 1e-8);
  const unsigned counter = *(const unsigned*)run.scratch[1];
  record(std::string("l2_read ") + dname<T>(), label + " counter reset", counter == 0, 0,
         counter ? fmt("arrival counter left at %u", counter) : "");
}

EMU_TEST(stream, seed) {
  std::mt19937_64 rng(seed);
  // Tails: n not a multiple of the 4 (f32) or 8 (f16/bf16) elements of a vector; one block
  // (sms=132) and a capped grid (sms=1: 8 blocks) where the unrolled grid-stride loop runs.
  for (long long n : {1LL, 3LL, 7LL, 9LL, 1000LL, 4099LL, 12345LL, 70001LL}) {
    one<float>(n, H100_SMS, rng);
    one<f16_t>(n, H100_SMS, rng);
    one<bf16_t>(n, H100_SMS, rng);
  }
  for (long long n : {65537LL, 200003LL}) {
    one<float>(n, 1, rng);
    one<f16_t>(n, 1, rng);
    one<bf16_t>(n, 1, rng);
  }
  for (long long n : {5LL, 4099LL, 70001LL}) {
    l2<float>(n, 3, 1, rng);
    l2<f16_t>(n, 2, 2, rng);
    l2<bf16_t>(n, 1, H100_SMS, rng);
  }
  if (const EmuPlan* p = emu_plan("launch blocks=3 f32")) {  // the launch ceiling: `blocks` × 32
    EmuRun run;
    emu_run(*p, {}, run);
    record("empty", "3x32", true, 0);
  }
}
