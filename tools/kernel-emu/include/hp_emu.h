// hp_emu.h — host emulation of the CUDA subset hotpath's kernels use, so the kernels in
// kernels/*.cu run unmodified (after tools/kernel-emu/prep.py) on a CPU and can be checked
// against f64 references without a GPU.
//
// Model: every CUDA thread of a block is a fiber (runtime.cpp); blocks run one after another,
// in a shuffled order. Warp collectives (__shfl_*_sync, ldmatrix, mma) meet at a per-warp
// barrier and exchange registers; the block barrier is __syncthreads. Inline PTX is not compiled: prep.py turns every
// `asm volatile(...)` into a call to emu_asm(), which interprets the handful of PTX
// instructions hotpath uses (cp.async, ldmatrix, mma.sync) from their PTX ISA definitions.
// Shared memory is static storage that is poisoned (0xff bytes: NaN in f32/f16/bf16)
// before every block, so reading what the block did not write shows up as a NaN.
#pragma once
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
#ifndef __CUDA_ARCH__
#define __CUDA_ARCH__ 900
#endif

// ---------------- vector types, intrinsics ----------------
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct emu_dim3 { unsigned x = 1, y = 1, z = 1; };
using dim3 = emu_dim3;

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
template <typename T> inline T __ldg(const T* p) { return *p; }
template <typename T> inline T __ldcg(const T* p) { return *p; }
inline void __threadfence() {}  // blocks run one after another: memory is already ordered

[[noreturn]] void emu_fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// ---------------- 16-bit floating-point types (cuda_fp16.h / cuda_bf16.h subset) ----------------
struct alignas(2) __half { uint16_t __x; };
struct alignas(2) __nv_bfloat16 { uint16_t __x; };
inline float emu_h2f(uint16_t b) { _Float16 h; memcpy(&h, &b, 2); return (float)h; }
inline uint16_t emu_f2h(float x) { _Float16 h = (_Float16)x; uint16_t b; memcpy(&b, &h, 2); return b; }  // RNE
inline float emu_b2f(uint16_t b) { return __uint_as_float((unsigned)b << 16); }
inline uint16_t emu_f2b(float x) {  // RNE, NaN stays NaN
  unsigned u = __float_as_uint(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
inline float __half2float(__half h) { return emu_h2f(h.__x); }
inline __half __float2half_rn(float x) { return __half{emu_f2h(x)}; }
inline __half __float2half(float x) { return __half{emu_f2h(x)}; }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short u) { return __half{u}; }
inline float __bfloat162float(__nv_bfloat16 h) { return emu_b2f(h.__x); }
inline __nv_bfloat16 __float2bfloat16_rn(float x) { return __nv_bfloat16{emu_f2b(x)}; }
inline __nv_bfloat16 __float2bfloat16(float x) { return __nv_bfloat16{emu_f2b(x)}; }
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 h) { return h.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) { return __nv_bfloat16{u}; }
inline float emu_fp8_e4m3(uint8_t b) {  // bias 7, no infinities, S.1111.111 = NaN
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return NAN;
  const float v = e == 0 ? ldexpf((float)m, -9) : ldexpf(1.0f + m / 8.0f, e - 7);
  return s ? -v : v;
}
inline float emu_fp8_e5m2(uint8_t b) {  // bias 15, IEEE-like
  const int s = b >> 7, e = (b >> 2) & 31, m = b & 3;
  float v;
  if (e == 31) v = m ? NAN : INFINITY;
  else v = e == 0 ? ldexpf((float)m, -16) : ldexpf(1.0f + m / 4.0f, e - 15);
  return s ? -v : v;
}

// ---------------- execution context ----------------
// The CUDA threads of a block are fibers (own stacks, cooperative switching) run by one OS
// thread; a fiber gives way only where CUDA threads wait for each other (warp collectives,
// __syncthreads) or when it exits. Runnable fibers are resumed in a random order each round,
// so a kernel that reads shared data without the barrier that orders it gets different
// interleavings (and poisoned shared memory) from run to run of the seed.
inline emu_dim3 threadIdx{0, 0, 0};
inline emu_dim3 blockIdx{0, 0, 0};
inline emu_dim3 gridDim;
inline emu_dim3 blockDim;

// A barrier among fibers: waiters give way until the phase changes. Exited threads drop out.
struct EmuBar {
  int expected = 0, count = 0;
  uint64_t phase = 0;
};
void emu_yield_on(const EmuBar* b, uint64_t phase);  // to the scheduler until b leaves phase (runtime.cpp)
inline uint64_t emu_progress = 0;    // bumped whenever a fiber arrives somewhere; deadlock detection
inline void emu_bar_wait(EmuBar& b) {
  const uint64_t ph = b.phase;
  ++emu_progress;
  if (++b.count >= b.expected) {
    b.count = 0;
    ++b.phase;
    return;
  }
  while (b.phase == ph) emu_yield_on(&b, ph);
}
inline void emu_bar_drop(EmuBar& b) {
  --b.expected;
  ++emu_progress;
  if (b.count > 0 && b.count >= b.expected) {
    b.count = 0;
    ++b.phase;
  }
}

struct EmuWarp {
  EmuBar bar;
  int lanes = 32, exited = 0;
  int kind[32];
  uint64_t x[32][12];
};
// cp.async state of one CUDA thread
struct EmuCopy { char* dst; const char* src; int size, src_size; };
struct EmuThreadState {
  std::vector<EmuCopy> cur;
  std::deque<std::vector<EmuCopy>> groups;
};
struct EmuBlock {
  EmuBar bar;
  std::vector<EmuWarp> warps;
  std::vector<EmuThreadState> ts;
};
inline EmuBlock* emu_blk = nullptr;
inline EmuThreadState* emu_ts = nullptr;
inline int emu_lane = 0, emu_warpid = 0;
inline const char* emu_kernel_name = "";
inline int emu_cp_mode = 0;  // cp.async: 0 = copy at wait_group (latest legal moment), 1 = at issue
inline long emu_collectives = 0, emu_bank_conflicts = 0, emu_ldsm_phases = 0;

inline void emu_fail(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "EMU ERROR in %s, block (%u,%u,%u) thread %u: %s\n", emu_kernel_name, blockIdx.x, blockIdx.y,
          blockIdx.z, threadIdx.x, buf);
  fflush(stderr);
  std::abort();
}

// ---------------- shared memory ----------------
// prep.py appends `emu_smem_reg(&name, sizeof name)` to every __shared__ declaration.
struct EmuRegion { char* p; size_t n; };
inline std::vector<EmuRegion> emu_smem;
inline char emu_smem_anchor;  // shared "addresses" (cvta) are offsets from this static
inline bool emu_smem_reg(void* p, size_t n) {
  emu_smem.push_back({(char*)p, n});
  memset(p, 0xff, n);
  return true;
}
inline void emu_smem_poison() {
  for (auto& r : emu_smem) memset(r.p, 0xff, r.n);
}
inline bool emu_is_smem(const void* p, size_t n) {
  for (auto& r : emu_smem)
    if ((const char*)p >= r.p && (const char*)p + n <= r.p + r.n) return true;
  return false;
}
inline size_t __cvta_generic_to_shared(const void* p) {
  if (!emu_is_smem(p, 1)) emu_fail("__cvta_generic_to_shared of a pointer outside shared memory");
  const long long off = (const char*)p - &emu_smem_anchor;
  if (off < INT32_MIN || off > INT32_MAX) emu_fail("shared window too large");
  return (size_t)(unsigned)(int)off;
}
inline char* emu_shared_ptr(uint64_t a) { return &emu_smem_anchor + (int)(unsigned)a; }
// Dynamic shared memory (`extern __shared__`, which prep.py turns into emu_dyn_smem()): a
// static pool next to the other shared "addresses", of which a launch gets exactly the bytes
// its plan names (registered as a region, poisoned before every block; with ASan the rest of
// the pool is poisoned too, so a kernel reading past its dynamic size is stopped).
constexpr size_t EMU_DYN_POOL = 256 * 1024;
alignas(1024) inline char emu_dyn_pool[EMU_DYN_POOL];
inline size_t emu_dyn_bytes = 0;
inline char* emu_dyn_smem() {
  if (emu_dyn_bytes == 0) emu_fail("the kernel uses dynamic shared memory but the launch gives it none");
  return emu_dyn_pool;
}

// ---------------- barriers and warp collectives ----------------
inline void __syncthreads() { emu_bar_wait(emu_blk->bar); }
inline EmuWarp& emu_w() { return emu_blk->warps[emu_warpid]; }
enum { EMU_SHFL = 1, EMU_LDSM, EMU_MMA, EMU_SYNCWARP };
// All 32 lanes deposit their operands and meet; lane data must not be overwritten until
// every lane has read, hence the second meeting in emu_coll_leave.
inline EmuWarp& emu_coll_enter(int kind) {
  EmuWarp& w = emu_w();
  if (w.lanes != 32) emu_fail("warp collective in a partial warp");
  w.kind[emu_lane] = kind;
  return w;
}
inline void emu_coll_meet(EmuWarp& w) {
  emu_bar_wait(w.bar);
  if (w.exited) emu_fail("warp collective with a full mask after some lanes of the warp exited");
  if (emu_lane == 0)
    for (int l = 1; l < 32; ++l)
      if (w.kind[l] != w.kind[0]) emu_fail("lanes of one warp reached different warp collectives");
}
inline void emu_coll_leave(EmuWarp& w) {
  emu_bar_wait(w.bar);
  if (emu_lane == 0) emu_collectives++;
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  if (mask != 0xffffffffu) emu_fail("__syncwarp with a partial mask is not emulated");
  EmuWarp& w = emu_coll_enter(EMU_SYNCWARP);
  emu_coll_meet(w);
  emu_coll_leave(w);
}
template <typename T>
inline T emu_shfl(unsigned mask, T v, int src_of_lane(int, int, int), int arg, int width) {
  static_assert(sizeof(T) <= 8, "shfl of a type wider than 8 bytes");
  if (mask != 0xffffffffu) emu_fail("shfl with a partial mask is not emulated");
  if (width <= 0 || width > 32 || (width & (width - 1))) emu_fail("shfl width %d", width);
  EmuWarp& w = emu_coll_enter(EMU_SHFL);
  uint64_t bits = 0;
  memcpy(&bits, &v, sizeof(T));
  w.x[emu_lane][0] = bits;
  emu_coll_meet(w);
  bits = w.x[src_of_lane(emu_lane, arg, width)][0];
  emu_coll_leave(w);
  T r;
  memcpy(&r, &bits, sizeof(T));
  return r;
}
inline int emu_src_xor(int lane, int m, int width) {
  const int s = lane ^ m;
  return (s / width == lane / width) ? s : lane;
}
inline int emu_src_idx(int lane, int src, int width) { return (lane / width) * width + (src % width); }
inline int emu_src_down(int lane, int d, int width) { return (lane % width) + d < width ? lane + d : lane; }
inline int emu_src_up(int lane, int d, int width) { return (lane % width) - d >= 0 ? lane - d : lane; }
template <typename T> inline T __shfl_xor_sync(unsigned m, T v, int o, int width = 32) { return emu_shfl(m, v, emu_src_xor, o, width); }
template <typename T> inline T __shfl_sync(unsigned m, T v, int s, int width = 32) { return emu_shfl(m, v, emu_src_idx, s, width); }
template <typename T> inline T __shfl_down_sync(unsigned m, T v, unsigned d, int width = 32) { return emu_shfl(m, v, emu_src_down, (int)d, width); }
template <typename T> inline T __shfl_up_sync(unsigned m, T v, unsigned d, int width = 32) { return emu_shfl(m, v, emu_src_up, (int)d, width); }

// ---------------- atomics ----------------
template <typename T> inline T atomicAdd(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <typename T> inline T atomicMax(T* p, T v) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (old < v && !a.compare_exchange_weak(old, v)) {}
  return old;
}
template <typename T> inline T atomicExch(T* p, T v) { return std::atomic_ref<T>(*p).exchange(v); }

// ---------------- inline PTX ----------------
// prep.py rewrites `asm volatile("tmpl" : "=r"(x), "+f"(y) : "r"(z), "l"(p), "n"(N) : clobbers)`
// into `emu_asm("tmpl", {emu_o(x), emu_o(y), emu_i(z), emu_i(p), emu_i(N)})`: operand %i is the
// i-th entry. Outputs are 32-bit registers (f32 / b32) read and written through the pointer.
struct EmuOp { void* p; uint64_t v; };
struct EmuOps {  // the operands of one asm statement
  const EmuOp* p;
  size_t n;
  const EmuOp& operator[](size_t i) const { return p[i]; }
  size_t size() const { return n; }
};
template <typename T> inline EmuOp emu_o(T& x) {
  static_assert(sizeof(T) == 4, "asm output operands are 32-bit registers");
  return {(void*)&x, 0};
}
template <typename T> inline EmuOp emu_i(const T& x) {
  if constexpr (std::is_pointer_v<T>) return {nullptr, (uint64_t)(uintptr_t)x};
  else if constexpr (std::is_floating_point_v<T>) { static_assert(sizeof(T) == 4); return {nullptr, __float_as_uint(x)}; }
  else return {nullptr, (uint64_t)x};
}
inline uint64_t emu_opval(const EmuOp& o) {
  if (o.p) { uint32_t u; memcpy(&u, o.p, 4); return u; }
  return o.v;
}
inline void emu_opset(const EmuOp& o, uint32_t v) {
  if (!o.p) emu_fail("asm writes to an input operand");
  memcpy(o.p, &v, 4);
}

inline void emu_exec(const EmuCopy& c) {
  memcpy(c.dst, c.src, (size_t)c.src_size);
  memset(c.dst + c.src_size, 0, (size_t)(c.size - c.src_size));
}
inline void emu_cp_wait(int n) {
  auto& gs = emu_ts->groups;
  while ((int)gs.size() > n) {
    for (auto& c : gs.front()) emu_exec(c);
    gs.pop_front();
  }
}

// One parsed PTX instruction: opcode and operand list; each operand is a list of items
// (a {...} vector has several), an item is %N, an immediate, or [%N] / [imm].
struct EmuItem { int opnd = -1; long long imm = 0; bool addr = false; };
struct EmuInsn { std::string op; std::vector<std::vector<EmuItem>> args; };
inline EmuInsn emu_parse(const char* t) {
  std::string s(t);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == ';' || s.back() == '\t')) s.pop_back();
  if (s.find(';') != std::string::npos) emu_fail("asm with more than one instruction: %s", t);
  size_t i = s.find_first_not_of(" \t\n");
  size_t e = s.find_first_of(" \t", i);
  EmuInsn in;
  in.op = s.substr(i, e == std::string::npos ? std::string::npos : e - i);
  if (e == std::string::npos) return in;
  std::string rest = s.substr(e);
  std::vector<EmuItem> cur;
  bool in_brace = false;
  for (size_t k = 0; k < rest.size();) {
    char c = rest[k];
    if (c == ' ' || c == '\t' || c == '\n') { ++k; continue; }
    if (c == '{') { in_brace = true; ++k; continue; }
    if (c == '}') { in_brace = false; ++k; continue; }
    if (c == ',') { if (!in_brace) { in.args.push_back(cur); cur.clear(); } ++k; continue; }
    EmuItem it;
    if (c == '[') { it.addr = true; ++k; }
    while (k < rest.size() && rest[k] == ' ') ++k;
    if (rest[k] == '%') {
      ++k;
      it.opnd = 0;
      while (k < rest.size() && isdigit((unsigned char)rest[k])) it.opnd = it.opnd * 10 + (rest[k++] - '0');
    } else if (isdigit((unsigned char)rest[k]) || rest[k] == '-') {
      size_t used = 0;
      it.imm = std::stoll(rest.substr(k), &used, 0);
      k += used;
    } else {
      emu_fail("unsupported PTX operand in: %s", t);
    }
    if (it.addr) {
      while (k < rest.size() && rest[k] == ' ') ++k;
      if (rest[k] != ']') emu_fail("unsupported PTX address (offsets are not emulated): %s", t);
      ++k;
    }
    cur.push_back(it);
  }
  in.args.push_back(cur);
  return in;
}
inline uint64_t emu_val(const EmuItem& it, const EmuOps& ops) {
  if (it.opnd < 0) return (uint64_t)it.imm;
  if (it.opnd >= (int)ops.size()) emu_fail("asm operand %%%d out of range", it.opnd);
  return emu_opval(ops[it.opnd]);
}
inline bool emu_has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

inline void emu_ptx_ldmatrix(const EmuInsn& in, const EmuOps& ops) {
  // ldmatrix.sync.aligned.m8n8.x{1,2,4}{.trans}.shared{::cta}.b16 {r..}, [addr]
  const int nm = emu_has(in.op, ".x4") ? 4 : emu_has(in.op, ".x2") ? 2 : 1;
  const bool trans = emu_has(in.op, ".trans");
  if (!emu_has(in.op, ".m8n8") || !emu_has(in.op, ".b16") || in.args.size() != 2 || (int)in.args[0].size() != nm)
    emu_fail("unsupported ldmatrix form: %s", in.op.c_str());
  const char* p = emu_shared_ptr(emu_val(in.args[1][0], ops));
  EmuWarp& w = emu_coll_enter(EMU_LDSM);
  // Only lanes 0..8·nm-1 give row addresses; every address is 16-byte aligned.
  if (emu_lane < 8 * nm) {
    if (((uintptr_t)p & 15) != 0) emu_fail("ldmatrix: row address not 16-byte aligned");
    if (!emu_is_smem(p, 16)) emu_fail("ldmatrix: row outside shared memory");
  }
  w.x[emu_lane][0] = (uint64_t)(uintptr_t)p;
  emu_coll_meet(w);
  if (emu_lane == 0) {  // bank conflicts: each matrix's 8 rows should hit 8 distinct 16-B bank groups
    for (int j = 0; j < nm; ++j) {
      unsigned seen = 0;
      bool conflict = false;
      for (int r = 0; r < 8; ++r) {
        const unsigned slot = (unsigned)((w.x[8 * j + r][0] >> 4) & 7);
        if (seen >> slot & 1) conflict = true;
        seen |= 1u << slot;
      }
      if (conflict) emu_bank_conflicts++;
      emu_ldsm_phases++;
    }
  }
  const int t = emu_lane;
  uint32_t r[4];
  for (int j = 0; j < nm; ++j) {
    uint16_t lo, hi;
    if (!trans) {  // lane t: row t/4, columns 2(t%4), 2(t%4)+1 of matrix j
      const uint16_t* row = (const uint16_t*)(uintptr_t)w.x[8 * j + t / 4][0];
      lo = row[2 * (t % 4)];
      hi = row[2 * (t % 4) + 1];
    } else {  // transposed: rows 2(t%4), 2(t%4)+1, column t/4
      lo = ((const uint16_t*)(uintptr_t)w.x[8 * j + 2 * (t % 4)][0])[t / 4];
      hi = ((const uint16_t*)(uintptr_t)w.x[8 * j + 2 * (t % 4) + 1][0])[t / 4];
    }
    r[j] = (uint32_t)lo | ((uint32_t)hi << 16);
  }
  emu_coll_leave(w);
  for (int j = 0; j < nm; ++j) {
    if (in.args[0][j].opnd < 0) emu_fail("ldmatrix destination is not a register");
    emu_opset(ops[in.args[0][j].opnd], r[j]);
  }
}

// mma.sync.aligned.{m16n8k16 (f16, bf16) | m16n8k32 (e4m3, e5m2)}.row.col.f32.T.T.f32
// Fragment layouts from the PTX ISA ("Matrix Fragments for mma.m16n8k16 / m16n8k32"),
// lane = 4·g + t:
//  m16n8k16, 16-bit A: a0,a1 = A[g][2t+{0,1}], a2,a3 = A[g+8][2t+{0,1}], a4,a5 = A[g][2t+8+{0,1}],
//    a6,a7 = A[g+8][2t+8+{0,1}] (two per .b32 register, lower k in the low half);
//    B: b0,b1 = B[2t+{0,1}][g], b2,b3 = B[2t+8+{0,1}][g].
//  m16n8k32, 8-bit A: register 0 = A[g][4t+i], 1 = A[g+8][4t+i], 2 = A[g][16+4t+i], 3 = A[g+8][16+4t+i]
//    (byte i); B: register 0 = B[4t+i][g], 1 = B[16+4t+i][g].
//  C/D (f32): c0,c1 = C[g][2t+{0,1}], c2,c3 = C[g+8][2t+{0,1}].
inline void emu_ptx_mma(const EmuInsn& in, const EmuOps& ops) {
  int K, type;  // type: 0 f16, 1 bf16, 2 e4m3, 3 e5m2
  if (in.op == "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32") K = 16, type = 0;
  else if (in.op == "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32") K = 16, type = 1;
  else if (in.op == "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32") K = 32, type = 2;
  else if (in.op == "mma.sync.aligned.m16n8k32.row.col.f32.e5m2.e5m2.f32") K = 32, type = 3;
  else emu_fail("unsupported mma form: %s", in.op.c_str());
  if (type >= 2 && __CUDA_ARCH__ < 890) emu_fail("fp8 mma needs sm_89+");
  if (in.args.size() != 4 || in.args[0].size() != 4 || in.args[1].size() != 4 || in.args[2].size() != 2 ||
      in.args[3].size() != 4)
    emu_fail("mma operand shape");
  EmuWarp& w = emu_coll_enter(EMU_MMA);
  for (int i = 0; i < 4; ++i) w.x[emu_lane][i] = emu_val(in.args[1][i], ops);
  for (int i = 0; i < 2; ++i) w.x[emu_lane][4 + i] = emu_val(in.args[2][i], ops);
  float c[4];
  for (int i = 0; i < 4; ++i) c[i] = __uint_as_float((uint32_t)emu_val(in.args[3][i], ops));
  emu_coll_meet(w);
  auto elem16 = [&](int lane, int reg, int hi) -> double {
    const uint16_t b = (uint16_t)(w.x[lane][reg] >> (16 * hi));
    return type == 0 ? emu_h2f(b) : emu_b2f(b);
  };
  auto elem8 = [&](int lane, int reg, int byte) -> double {
    const uint8_t b = (uint8_t)(w.x[lane][reg] >> (8 * byte));
    return type == 2 ? emu_fp8_e4m3(b) : emu_fp8_e5m2(b);
  };
  auto A = [&](int row, int k) -> double {
    if (K == 16) return elem16((row % 8) * 4 + (k % 8) / 2, (row / 8) + 2 * (k / 8), k & 1);
    return elem8((row % 8) * 4 + (k % 16) / 4, (row / 8) + 2 * (k / 16), k % 4);
  };
  auto B = [&](int k, int col) -> double {
    if (K == 16) return elem16(col * 4 + (k % 8) / 2, 4 + k / 8, k & 1);
    return elem8(col * 4 + (k % 16) / 4, 4 + k / 16, k % 4);
  };
  const int g = emu_lane / 4, tq = emu_lane % 4;
  float d[4];
  for (int i = 0; i < 4; ++i) {
    const int row = g + 8 * (i / 2), col = 2 * tq + (i % 2);
    double s = c[i];
    for (int k = 0; k < K; ++k) s += A(row, k) * B(k, col);
    d[i] = (float)s;
  }
  emu_coll_leave(w);
  for (int i = 0; i < 4; ++i) {
    if (in.args[0][i].opnd < 0) emu_fail("mma destination is not a register");
    emu_opset(ops[in.args[0][i].opnd], __float_as_uint(d[i]));
  }
}

inline void emu_asm(const char* tmpl, std::initializer_list<EmuOp> il) {
  static std::unordered_map<const char*, EmuInsn> cache;
  auto it = cache.find(tmpl);
  if (it == cache.end()) it = cache.emplace(tmpl, emu_parse(tmpl)).first;
  const EmuInsn& in = it->second;
  const EmuOps ops{il.begin(), il.size()};
  const std::string& op = in.op;
  if (op.rfind("cp.async.commit_group", 0) == 0) {
    emu_ts->groups.push_back(std::move(emu_ts->cur));
    emu_ts->cur.clear();
  } else if (op.rfind("cp.async.wait_group", 0) == 0) {
    emu_cp_wait((int)emu_val(in.args.at(0).at(0), ops));
  } else if (op.rfind("cp.async.wait_all", 0) == 0) {
    emu_ts->groups.push_back(std::move(emu_ts->cur));
    emu_ts->cur.clear();
    emu_cp_wait(0);
  } else if (op == "cp.async.cg.shared.global" || op == "cp.async.ca.shared.global") {
    // cp.async.{cg,ca}.shared.global [dst], [src], cp-size{, src-size}: bytes past src-size are zero-filled
    if (in.args.size() < 3) emu_fail("cp.async operands");
    EmuCopy c;
    c.dst = emu_shared_ptr(emu_val(in.args[0][0], ops));
    c.src = (const char*)(uintptr_t)emu_val(in.args[1][0], ops);
    c.size = (int)emu_val(in.args[2][0], ops);
    c.src_size = in.args.size() > 3 ? (int)emu_val(in.args[3][0], ops) : c.size;
    if (!(c.size == 4 || c.size == 8 || c.size == 16) || (op == "cp.async.cg.shared.global" && c.size != 16))
      emu_fail("cp.async cp-size %d", c.size);
    if (c.src_size < 0 || c.src_size > c.size) emu_fail("cp.async src-size %d", c.src_size);
    if (((uintptr_t)c.dst % c.size) || (c.src_size && ((uintptr_t)c.src % c.size)))
      emu_fail("cp.async misaligned (dst %p src %p)", (void*)c.dst, (const void*)c.src);
    if (!emu_is_smem(c.dst, c.size)) emu_fail("cp.async destination outside shared memory");
    if (emu_cp_mode == 1) emu_exec(c);
    else emu_ts->cur.push_back(c);
  } else if (op.rfind("ldmatrix.", 0) == 0) {
    emu_ptx_ldmatrix(in, ops);
  } else if (op.rfind("mma.", 0) == 0) {
    emu_ptx_mma(in, ops);
  } else {
    emu_fail("PTX instruction not emulated: %s", tmpl);
  }
}

// ---------------- launch ----------------
// Runs `body` once per CUDA thread of every block of `grid` (runtime.cpp). Blocks run one
// after another in a shuffled order (no kernel may depend on block order).
void emu_run_grid(const char* name, emu_dim3 grid, emu_dim3 block, const std::function<void()>& body,
                  size_t dyn_smem = 0);
void emu_seed(uint64_t seed);

// ---------------- launches from a plan (tools/kernel-emu/include/emu_plan.h) ----------------
// One kernel argument as a plan gives it, converted to the kernel's own parameter types: a
// plan argument of the wrong kind for its parameter stops the emulator with both named.
struct EmuArg {
  enum Kind { PTR, I32, I64, F32, U4 } kind = PTR;
  void* p = nullptr;
  long long i = 0;
  float f = 0;
  uint4 u{};
};
inline const char* emu_kind_name(EmuArg::Kind k) {
  static const char* names[] = {"a buffer", "an i32", "an i64", "an f32", "a u32x4"};
  return names[k];
}
template <typename P>
P emu_arg_as(const EmuArg& a, const char* fn, size_t idx) {
  auto need = [&](EmuArg::Kind k, const char* param) {
    if (a.kind != k)
      emu_fail("%s: the plan passes %s as argument %zu, the kernel takes %s", fn, emu_kind_name(a.kind), idx, param);
  };
  if constexpr (std::is_pointer_v<P>) {
    need(EmuArg::PTR, "a pointer");
    return (P)a.p;
  } else if constexpr (std::is_same_v<P, int>) {
    need(EmuArg::I32, "an int");
    return (int)a.i;
  } else if constexpr (std::is_same_v<P, unsigned>) {
    need(EmuArg::I32, "an unsigned");
    return (unsigned)a.i;
  } else if constexpr (std::is_same_v<P, long long>) {
    need(EmuArg::I64, "a long long");
    return a.i;
  } else if constexpr (std::is_same_v<P, float>) {
    need(EmuArg::F32, "a float");
    return a.f;
  } else {
    static_assert(std::is_same_v<P, uint4>, "kernel parameter type the plan executor does not know");
    need(EmuArg::U4, "a uint4");
    return a.u;
  }
}
using EmuLauncher = std::function<void(emu_dim3, emu_dim3, size_t, const std::vector<EmuArg>&)>;
inline std::unordered_map<std::string, EmuLauncher>& emu_kernels() {
  static std::unordered_map<std::string, EmuLauncher> k;
  return k;
}
// Registers kernel `fn` under `name`, so plans can launch it by its extern "C" name.
template <typename... P>
bool emu_register(const char* name, void (*fn)(P...)) {
  std::string n = name;
  emu_kernels()[n] = [n, fn](emu_dim3 grid, emu_dim3 block, size_t dyn, const std::vector<EmuArg>& args) {
    if (args.size() != sizeof...(P))
      emu_fail("%s: the plan passes %zu arguments, the kernel takes %zu", n.c_str(), args.size(), sizeof...(P));
    [&]<size_t... I>(std::index_sequence<I...>) {
      auto t = std::make_tuple(emu_arg_as<P>(args[I], n.c_str(), I)...);
      emu_run_grid(n.c_str(), grid, block, [&] { std::apply(fn, t); }, dyn);
    }(std::index_sequence_for<P...>{});
  };
  return true;
}
#define EMU_KERNEL(fn) [[maybe_unused]] static const bool emu_reg_##fn = emu_register(#fn, &fn)
