// runtime.cpp — the emulator's fibers and block scheduler (see include/hp_emu.h).
// Each CUDA thread of a block is a fiber with its own stack; one OS thread runs them,
// switching only where CUDA threads wait for each other. x86-64 uses a small assembly
// context switch; other hosts use ucontext (slower, same behaviour).
#include "hp_emu.h"

#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

#if defined(__x86_64__)
extern "C" void emu_ctx_switch(void** save_sp, void* load_sp);
// Saves the callee-saved registers, MXCSR and the x87 control word on the current stack,
// stores the stack pointer in *save_sp, loads load_sp and restores the same from there.
asm(R"(
.text
.globl emu_ctx_switch
.type emu_ctx_switch,@function
emu_ctx_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_ctx_switch,.-emu_ctx_switch
.section .note.GNU-stack,"",@progbits
.text
)");
#else
#include <ucontext.h>
#endif

namespace {

constexpr size_t kStack = 512 * 1024;  // per CUDA thread; generous for sanitizer builds
constexpr size_t kGuard = 4096;

struct Fiber {
  char* mem = nullptr;  // guard page + stack
  char* stack = nullptr;
  bool done = false;
#if defined(__x86_64__)
  void* sp = nullptr;
#else
  ucontext_t ctx;
#endif
  void* fake = nullptr;  // ASan fake stack while switched out
  const EmuBar* wait_bar = nullptr;  // waiting until this barrier leaves wait_phase
  uint64_t wait_phase = 0;
};

std::vector<Fiber> fibers;
int current = -1;
const std::function<void()>* body = nullptr;
#if defined(__x86_64__)
void* sched_sp = nullptr;
#else
ucontext_t sched_ctx;
#endif
[[maybe_unused]] const void* sched_bottom = nullptr;
[[maybe_unused]] size_t sched_size = 0;
[[maybe_unused]] void* sched_fake = nullptr;
uint64_t rng_state = 0x9e3779b97f4a7c15ull;

uint64_t next_rand() {  // xorshift64*
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545f4914f6cdd1dull;
}

void to_scheduler(bool dying) {
  Fiber& f = fibers[current];
#if EMU_ASAN
  __sanitizer_start_switch_fiber(dying ? nullptr : &f.fake, sched_bottom, sched_size);
#endif
#if defined(__x86_64__)
  emu_ctx_switch(&f.sp, sched_sp);
#else
  swapcontext(&f.ctx, &sched_ctx);
#endif
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(f.fake, &sched_bottom, &sched_size);
#endif
  (void)dying;
}

void fiber_main() {
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &sched_bottom, &sched_size);
#endif
  (*body)();
  // The thread exits: cp.async copies still in flight land, then it leaves its barriers.
  if (!emu_ts->cur.empty()) emu_fail("cp.async copies never committed when the thread exited");
  emu_cp_wait(0);
  EmuWarp& w = emu_w();
  w.exited++;
  emu_bar_drop(w.bar);
  emu_bar_drop(emu_blk->bar);
  fibers[current].done = true;
  to_scheduler(true);
  std::abort();  // never resumed
}

void ensure_fibers(int n) {
  while ((int)fibers.size() < n) {
    Fiber f;
    f.mem = (char*)mmap(nullptr, kStack + kGuard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (f.mem == MAP_FAILED) emu_fail("mmap of a fiber stack failed");
    mprotect(f.mem, kGuard, PROT_NONE);  // stack overflow faults instead of corrupting
    f.stack = f.mem + kGuard;
    fibers.push_back(f);
  }
}

void start_fiber(Fiber& f) {
  f.done = false;
  f.wait_bar = nullptr;
  f.fake = nullptr;
#if EMU_ASAN
  __asan_unpoison_memory_region(f.stack, kStack);  // leftovers of a fiber that never returned
#endif
#if defined(__x86_64__)
  // Stack top: [0 = fake return address of fiber_main][&fiber_main for `ret`][rbp rbx r12..r15]
  // [MXCSR, x87 CW]: what emu_ctx_switch pops, so the first switch "returns" into fiber_main
  // with the stack aligned as after a call.
  uint64_t* top = (uint64_t*)(f.stack + kStack);
  *--top = 0;
  *--top = (uint64_t)(uintptr_t)&fiber_main;
  for (int i = 0; i < 6; ++i) *--top = 0;
  *--top = 0x037F00001F80ull;  // MXCSR 0x1F80 (low 4 bytes), x87 control word 0x037F
  f.sp = top;
#else
  getcontext(&f.ctx);
  f.ctx.uc_stack.ss_sp = f.stack;
  f.ctx.uc_stack.ss_size = kStack;
  f.ctx.uc_link = nullptr;
  makecontext(&f.ctx, fiber_main, 0);
#endif
}

void resume(int i) {
  current = i;
  Fiber& f = fibers[i];
  threadIdx = emu_dim3{(unsigned)i, 0, 0};
  emu_lane = i % 32;
  emu_warpid = i / 32;
  emu_ts = &emu_blk->ts[i];
#if EMU_ASAN
  __sanitizer_start_switch_fiber(&sched_fake, f.stack, kStack);
#endif
#if defined(__x86_64__)
  emu_ctx_switch(&sched_sp, f.sp);
#else
  swapcontext(&sched_ctx, &f.ctx);
#endif
#if EMU_ASAN
  __sanitizer_finish_switch_fiber(sched_fake, nullptr, nullptr);
#endif
  current = -1;
}

// Rounds: every runnable fiber is resumed once, in a random order, until it waits or exits.
// Each round also holds back a random quarter of the warps, so warps drift apart by a few
// waits and a missing __syncthreads between warps that run the same code shows up.
void run_block(int threads) {
  for (int i = 0; i < threads; ++i) start_fiber(fibers[i]);
  std::vector<int> order(threads);
  for (int i = 0; i < threads; ++i) order[i] = i;
  const int warps = (threads + 31) / 32;
  std::vector<char> held(warps, 0);
  int alive = threads;
  bool hold = warps > 1;
  while (alive > 0) {
    const uint64_t before = emu_progress;
    for (int i = threads - 1; i > 0; --i) std::swap(order[i], order[next_rand() % (i + 1)]);
    for (int w = 0; w < warps; ++w) held[w] = hold && (next_rand() & 3) == 0;
    int finished = 0;
    for (int i : order) {
      Fiber& f = fibers[i];
      if (f.done || held[i / 32]) continue;
      if (f.wait_bar && f.wait_bar->phase == f.wait_phase) continue;  // still waiting: no need to switch in
      f.wait_bar = nullptr;
      resume(i);
      if (fibers[i].done) ++finished;
    }
    alive -= finished;
    if (alive > 0 && finished == 0 && emu_progress == before) {
      if (!hold) emu_fail("deadlock: %d thread(s) wait at barriers the others never reach", alive);
      hold = false;  // retry the round with every warp before calling it a deadlock
    } else {
      hold = warps > 1;
    }
  }
}

}  // namespace

void emu_yield_on(const EmuBar* b, uint64_t phase) {
  if (current < 0) emu_fail("a barrier wait outside a fiber");
  fibers[current].wait_bar = b;
  fibers[current].wait_phase = phase;
  to_scheduler(false);
}

void emu_seed(uint64_t seed) { rng_state = seed * 0x9e3779b97f4a7c15ull + 1; }

void emu_run_grid(const char* name, emu_dim3 grid, emu_dim3 block, const std::function<void()>& b, size_t dyn) {
  const int threads = (int)(block.x * block.y * block.z);
  emu_kernel_name = name;
  if (block.y != 1 || block.z != 1) emu_fail("only 1-D blocks are emulated");
  if (threads < 1 || threads > 1024 || grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.y > 65535 || grid.z > 65535)
    emu_fail("bad launch: grid (%u,%u,%u) block %d", grid.x, grid.y, grid.z, threads);
  if (dyn > EMU_DYN_POOL) emu_fail("%zu B of dynamic shared memory: the emulator's pool holds %zu", dyn, EMU_DYN_POOL);
  // The launch's dynamic shared memory: exactly `dyn` bytes of the pool are a region.
  emu_dyn_bytes = dyn;
  const size_t region = emu_smem.size();
  if (dyn > 0) emu_smem.push_back({emu_dyn_pool, dyn});
#if EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(emu_dyn_pool, EMU_DYN_POOL);
  if (dyn > 0) ASAN_POISON_MEMORY_REGION(emu_dyn_pool + dyn, EMU_DYN_POOL - dyn);
#endif
  gridDim = grid;
  blockDim = block;
  body = &b;
  ensure_fibers(threads);
  std::vector<emu_dim3> order;
  order.reserve((size_t)grid.x * grid.y * grid.z);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) order.push_back({x, y, z});
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[next_rand() % i]);
  for (const emu_dim3& bi : order) {
    emu_smem_poison();
    EmuBlock blk;
    blk.bar.expected = threads;
    blk.warps.resize((threads + 31) / 32);
    for (int w = 0; w < (int)blk.warps.size(); ++w) {
      blk.warps[w].lanes = std::min(32, threads - 32 * w);
      blk.warps[w].bar.expected = blk.warps[w].lanes;
    }
    blk.ts.resize(threads);
    emu_blk = &blk;
    blockIdx = bi;
    run_block(threads);
    emu_blk = nullptr;
  }
  body = nullptr;
  if (dyn > 0) emu_smem.erase(emu_smem.begin() + (long)region);
  emu_dyn_bytes = 0;
#if EMU_ASAN
  ASAN_UNPOISON_MEMORY_REGION(emu_dyn_pool, EMU_DYN_POOL);
#endif
}
