#!/usr/bin/env python3
"""Mutation check of the emulator tests: proof that they fail on broken kernels and on
broken launch plans (CI runs it after scripts/emulate-kernels.sh).

- A kernel mutation breaks one kernel in a copy of kernels/; scripts/emulate-kernels.sh
  --kernels COPY must then fail that kernel's group.
- A plan mutation edits one kind of launch in the plans file core made for the tests (two
  pointers swapped, an integer or the grid off by one, the dynamic shared memory short) and
  runs the built kernel-emu on the edited copy (kernel-emu --cases F --plans F GROUP): a
  launcher that passes wrong arguments must fail the group too.
"Fail" is a wrong result or the emulator stopping the kernel. First the unmutated kernels and
plans must pass every group. Mutations run N at a time (-j, default 2), each worker with its
own copy of kernels/ and build directory (a mutation recompiles only the file it breaks), and
kernel-emu stops at the first failed shape (--fail-fast). Prints one line per mutation and
exits non-zero if one went unnoticed, no longer applies (stale), or does not compile.

HOTPATH_MUTATE_PASSED=FILE (CI sets it): after a run in which every mutation was caught, FILE
records the sha256 of everything that decides the verdicts: the files of kernels/ and
tools/kernel-emu/ (this list of mutations included), scripts/emulate-kernels.sh, the cases
and plans the unmutated run made, g++'s version, the sanitizer choice and the label filter.
A later run first runs the unmutated kernels and plans as always (they must pass); if the
digest is then the one recorded, it says so and does not rerun the mutations, whose verdicts
the emulator (fixed seeds, blocks and fibers scheduled in a fixed order) would repeat.

usage: tools/kernel-emu/mutate.py [--sanitize] [-j N] [LABEL-SUBSTRING]
"""
import hashlib
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# In target/, beside the emulator's own builds: CI keeps target/ between runs, so the
# workers' builds are reused and a run recompiles only what its mutations break.
WORK = os.environ.get("HOTPATH_MUTATE_WORK") or os.path.join(ROOT, "target", "kernel-emu", "mutate")
SCRIPT = os.path.join(ROOT, "scripts", "emulate-kernels.sh")
TIMEOUT_S = 900  # a mutation that makes a kernel spin is not a caught one

# (label, file, group, old text (first occurrence is replaced), new text)
KERNEL_MUTATIONS = [
    ("copy: unrolled loop skips vectors", "stream.cu", "stream",
     "for (; i + (HP_UNROLL - 1) * stride < n_vec; i += HP_UNROLL * stride) {\n    uint4 v[HP_UNROLL];",
     "for (; i + (HP_UNROLL - 1) * stride < n_vec; i += (HP_UNROLL + 1) * stride) {\n    uint4 v[HP_UNROLL];"),
    ("write: last vector not written", "stream.cu", "stream",
     "i < n_vec; i += stride) a[i] = pattern;", "i < n_vec - 1; i += stride) a[i] = pattern;"),
    ("read: tail drops the last element", "stream.cu", "stream",
     "j < n; j += blockDim.x) s[1]", "j < n - 1; j += blockDim.x) s[1]"),
    ("block sum: no __syncthreads before reading the warp sums", "stream.cu", "stream",
     "  if (lane == 0) warp_sums[warp] = v;\n  __syncthreads();", "  if (lane == 0) warp_sums[warp] = v;"),
    ("triad: tail uses b for c", "stream.cu", "stream", "q * hp_to_float(c[j])", "q * hp_to_float(b[j])"),
    ("l2_read: one pass fewer", "stream.cu", "stream",
     "for (int p = 0; p < passes; ++p) {", "for (int p = 1; p < passes; ++p) {"),
    # `== 0` (the first block to arrive sums) is a race the emulator cannot see: blocks run one
    # at a time, so each one is "first", resets the counter, and the last sums everything.
    ("l2_read: the last block but one sums the partials", "stream.cu", "stream",
     "atomicAdd(arrived, 1u) == gridDim.x - 1", "atomicAdd(arrived, 1u) == gridDim.x - 2"),
    ("l2_read: arrival counter not reset for the next launch", "stream.cu", "stream",
     "      out[0] = t;\n      *arrived = 0u;", "      out[0] = t;"),
    ("kv_read: wrong offset in the page", "kv.cu", "kv",
     "* page_size + t % page_size;", "* page_size + (t + 1) % page_size;"),
    ("kv_read: one page too far (out of bounds)", "kv.cu", "kv",
     "(long long)block_table[t / page_size] * page_size", "(long long)(block_table[t / page_size] + 1) * page_size"),
    ("kv copy_row: vector path one vector short on long rows", "kv.cu", "kv",
     "const int n = row * (int)sizeof(T) / 16;", "const int n = row * (int)sizeof(T) / 16 - (row > 64);"),
    ("kv copy_row: element path one element short", "kv.cu", "kv",
     "for (int i = threadIdx.x; i < row; i += blockDim.x) dst[i] = src[i];",
     "for (int i = threadIdx.x; i < row - 1; i += blockDim.x) dst[i] = src[i];"),
    ("kv_write: V goes to the K half", "kv.cu", "kv", "kv_cache + (slots + slot) * row", "kv_cache + (slot) * row"),
    ("kv_write fp8: every element scaled by head 0", "kv.cu", "kv",
     "kd[i] = hp_fp8_e4m3_from_float(hp_to_float(ks[i]) * (1.f / k_scale[h]));",
     "kd[i] = hp_fp8_e4m3_from_float(hp_to_float(ks[i]) * (1.f / k_scale[0]));"),
    ("fp8 encode: ties rounded up, not to even", "hotpath_common.cuh", "kv",
     "(rest == 0x80000u && (m3 & 1u))", "(rest == 0x80000u)"),
    ("fp8 encode: no saturation at 448", "hotpath_common.cuh", "kv",
     "fminf(fabsf(x), 448.f)", "fminf(fabsf(x), 480.f)"),
    ("kv_read fp8: V dequantized with the K scales", "kv.cu", "kv",
     "vd[i] = hp_from_float<T>(hp_fp8_e4m3_to_float(vs[i]) * v_scale[h]);",
     "vd[i] = hp_from_float<T>(hp_fp8_e4m3_to_float(vs[i]) * k_scale[h]);"),
    ("add_rmsnorm: mean square over hidden - 1", "add_rmsnorm.cu", "add_rmsnorm",
     "/ (float)hidden + eps", "/ (float)(hidden - 1) + eps"),
    ("add_rmsnorm: block sum without the last lane group", "add_rmsnorm.cu", "add_rmsnorm",
     "lane < HP_RN_THREADS / HP_LANES ?", "lane < HP_RN_THREADS / HP_LANES - 1 ?"),
    ("add_rmsnorm: only the first kept access of r stored", "add_rmsnorm.cu", "add_rmsnorm",
     "      ra[i] = kept[j];", "      if (j == 0) ra[i] = kept[j];"),
    ("add_rmsnorm: the read-back tail scales by the weight of the thread's first access", "add_rmsnorm.cu",
     "add_rmsnorm", "ya[i] = hp_rn_scale<T>(back, hp_rn_load(wa + i), inv);",
     "ya[i] = hp_rn_scale<T>(back, hp_rn_load(wa + threadIdx.x), inv);"),
    ("add_rmsnorm: the element path one element short", "add_rmsnorm.cu", "add_rmsnorm",
     "weight, y, r, hidden, hidden, eps);", "weight, y, r, hidden - 1, hidden, eps);"),
    ("gemv_fp8w: subnormal codes decoded as normals", "hotpath_common.cuh", "gemv_fp8w",
     "  if (mag < (1u << 23)) v = (float)(b & 7u) * 0.001953125f;\n", ""),
    ("gemv_fp8w: sign bit dropped", "hotpath_common.cuh", "gemv_fp8w",
     "__float_as_uint(v) | ((b & 0x80u) << 24)", "__float_as_uint(v)"),
    ("gemv_fp8w: the second vector's activations are the first's", "gemv_fp8w.cu", "gemv_fp8w",
     "hp_fp8w_dot16<T>(w1, x + HP_LANES * 16)", "hp_fp8w_dot16<T>(w1, x)"),
    ("gemv_fp8w: row scale not applied", "gemv_fp8w.cu", "gemv_fp8w",
     "hp_warp_sum(acc[i]) * scale;", "hp_warp_sum(acc[i]);"),
    ("gemv_fp8w: tail vector skipped", "gemv_fp8w.cu", "gemv_fp8w", "  if (kk < k1) {", "  if (kk + 16 < k1) {"),
    ("gemv_w4a16: nibbles read high first", "gemv_w4a16.cu", "gemv_w4a16",
     "((wd[j] >> (4 * e)) & 15u)", "((wd[j] >> (28 - 4 * e)) & 15u)"),
    ("gemv_w4a16: zero point nibble of the word index, not of the group", "gemv_w4a16.cu", "gemv_w4a16",
     ">> (4 * (g % 8))) & 15u)", ">> (4 * (g / 8 % 8))) & 15u)"),
    ("gemv_w4a16: zero points of the first word only", "gemv_w4a16.cu", "gemv_w4a16",
     "__ldg(zeros_row + g / 8)", "__ldg(zeros_row)"),
    ("gemv_w4a16: zero point read in the symmetric form too", "gemv_w4a16.cu", "gemv_w4a16",
     "const float z = ZP ?", "const float z = true ?"),
    ("gemv_w4a16: split range one vector short", "gemv_w4a16.cu", "gemv_w4a16",
     "const int v1 = min(vectors, v0 + vc);", "const int v1 = min(vectors, v0 + vc - (splits > 1));"),
    ("embedding: an id equal to vocab is read, not zeroed", "embedding.cu", "embedding",
     "id >= 0 && id < vocab;", "id >= 0 && id <= vocab;"),
    ("embedding: vector path one vector short", "embedding.cu", "embedding",
     "const int n = hidden * (int)sizeof(T) / 16;", "const int n = hidden * (int)sizeof(T) / 16 - 1;"),
    ("silu_mul: the sigmoid of up, not of the gate", "silu_mul.cu", "silu_mul",
     "gf / (1.f + expf(-gf))", "gf / (1.f + expf(-hp_to_float(ue[j])))"),
    ("silu_mul: up read from the gate half", "silu_mul.cu", "silu_mul",
     "reinterpret_cast<const A*>(x + (long long)t * 2 * I + I);", "reinterpret_cast<const A*>(x + (long long)t * 2 * I);"),
    ("silu_mul: the last unit of a row skipped", "silu_mul.cu", "silu_mul",
     "if (t >= tokens || i >= n) return;", "if (t >= tokens || i >= n - 1) return;"),
    ("rope: sin's sign flipped", "rope.cu", "rope",
     "x = hp_from_float<T>(xf * c - yf * s);", "x = hp_from_float<T>(xf * c + yf * s);"),
    ("rope: GPT-J vector path reads the cos of pair u·V, not u·V/2", "rope.cu", "rope",
     "hp_rope_cs<V / 2>(cs + u * (V / 2), c);", "hp_rope_cs<V / 2>(cs + u * V, c);"),
    ("rope: the element path re-reads x[i0] after writing it (wrong only in place)", "rope.cu", "rope",
     "y[i1] = hp_from_float<T>(yf * c + xf * s);", "y[i1] = hp_from_float<T>(yf * c + hp_to_float(x[i0]) * s);"),
    ("gemv: tail vector skipped", "gemv.cu", "gemv", "  if (kk < k1) {", "  if (kk + E < k1) {"),
    ("gemv: split range one vector short", "gemv.cu", "gemv",
     "const int k1 = min(k, k0 + kc);", "const int k1 = min(k, k0 + kc - 8 * (splits > 1));"),
    ("gemv: second vector in flight dropped", "gemv.cu", "gemv",
     "acc[i] += hp_dot16<T>(w0, x0) + hp_dot16<T>(w1, x1);", "acc[i] += hp_dot16<T>(w0, x0) + 0.f * hp_dot16<T>(w1, x1);"),
    ("gemv: large m reads the wrong activation row", "gemv.cu", "gemv",
     "a + (long long)i * k + kk));\n      acc[i] += hp_dot16<T>(w0, x0);",
     "a + (long long)(i % 8) * k + kk));\n      acc[i] += hp_dot16<T>(w0, x0);"),
    ("gemv finish: last element not written", "gemv.cu", "gemv", "if (i < count) c[i]", "if (i < count - 1) c[i]"),
    ("decode: split end drops a token", "attn_decode.cu", "attn_decode",
     "const int t1 = min(len, t0 + chunk);", "const int t1 = min(len, t0 + chunk - 1);"),
    # Dropping the `t1 > t0` test would be equivalent (a negative tile count runs no tile, and
    # a tile past t1 is skipped by the tile functions); off by one, it loses one-token splits.
    ("decode: a one-token split is taken for an empty one", "attn_decode.cu", "attn_decode",
     "const int n_tiles = t1 > t0 ?", "const int n_tiles = t1 > t0 + 1 ?"),
    ("decode: GQA head mapping", "attn_decode.cu", "attn_decode",
     "q[((long long)b * hq + g * group + h) * D", "q[((long long)b * hq + h * (hq / group) + g) * D"),
    ("decode: page offset", "attn_decode.cu", "attn_decode",
     "((long long)pg[i] * page_size + t % page_size)", "((long long)pg[i] * page_size + (t + 1) % page_size)"),
    ("decode: the next tile's block-table entries not prefetched (tile nt looked up again)", "attn_decode.cu",
     "attn_decode", "dec_lookup<T, KT, D, G>(pg, table, nt + 1,", "dec_lookup<T, KT, D, G>(pg, table, nt,"),
    ("decode: next tile issued into the slot of tile j+1, not j-1", "attn_decode.cu", "attn_decode",
     "hp_dec_smem + (nt % stages) * C::STAGE", "hp_dec_smem + ((nt + 1) % stages) * C::STAGE"),
    ("decode: waits for one copy group too few", "attn_decode.cu", "attn_decode",
     "dec_wait(stages - 2);", "dec_wait(stages - 1);"),
    ("decode: no __syncthreads after the wait", "attn_decode.cu", "attn_decode",
     "    __syncthreads();       // ... and for every thread", "    // ... and for every thread"),
    ("decode mma: P fragment registers 1 and 2 exchanged", "attn_decode.cu", "attn_decode",
     "pf[1] = hp_pack2(s[0][2], s[0][3], T());\n  pf[2] = hp_pack2(s[1][0], s[1][1], T());",
     "pf[1] = hp_pack2(s[1][0], s[1][1], T());\n  pf[2] = hp_pack2(s[0][2], s[0][3], T());"),
    ("decode scalar: a token's lanes reduced without the last xor", "attn_decode.cu", "attn_decode",
     "for (int off = C::LPT / 2; off > 0; off >>= 1) s += hp_shfl_xor(s, off);",
     "for (int off = C::LPT / 2; off > 1; off >>= 1) s += hp_shfl_xor(s, off);"),
    ("decode scalar: token slots merged without rescaling", "attn_decode.cu", "attn_decode",
     "const float a = st.l[h] > 0.f ? exp2f((st.m[h] - mx) * sl2) : 0.f;", "const float a = st.l[h] > 0.f ? 1.f : 0.f;"),
    ("decode: warps merged without rescaling", "attn_decode.cu", "attn_decode",
     "const float f = l > 0.f ? exp2f((mg.m[w * G + h] - mx) * sl2) : 0.f;", "const float f = l > 0.f ? 1.f : 0.f;"),
    # Dropping `- mx` would be equivalent (it scales numerator and denominator alike, and the
    # exponents are far from overflow); the maxima are log2 units, so base e is wrong.
    ("decode fp8: V dequantized with the K scale", "attn_decode.cu", "attn_decode",
     "    v_sc = v_scale[g];", "    v_sc = k_scale[g];"),
    ("decode fp8: every block takes KV head 0's K scale", "attn_decode.cu", "attn_decode",
     "    k_sc = k_scale[g];", "    k_sc = k_scale[0];"),
    ("decode fp8: ring stages sized for 2-byte elements", "attn_decode.cu", "attn_decode",
     "static constexpr int STAGE = 2 * TILE * ROW;",
     "static constexpr int STAGE = 2 * TILE * D * (F8 ? 2 : (int)sizeof(KT));"),
    ("decode fp8 mma: V columns stashed in natural order", "attn_decode.cu", "attn_decode",
     "const int c0 = C::F8 ? 32 * (nb >> 2) + 8 * t + (nb & 3) : nb * 8 + 2 * t;",
     "const int c0 = nb * 8 + 2 * t;"),
    ("decode fp8 mma: K fragment's second register from elements 2t + 4", "attn_decode.cu", "attn_decode",
     "const unsigned hi = *reinterpret_cast<const unsigned short*>(p + 8);",
     "const unsigned hi = *reinterpret_cast<const unsigned short*>(p + 4);"),
    ("mla: V read from the rope columns (tensor cores)", "attn_mla_decode.cu", "attn_mla_decode",
     "* C::TSTR + cw * C::VCOLS * 2;", "* C::TSTR + (cw * C::VCOLS + DR) * 2;"),
    ("mla: V read from the rope columns (CUDA cores)", "attn_mla_decode.cu", "attn_mla_decode",
     "reinterpret_cast<const T*>(rows + r * C::TSTR) + part * C::VQ;",
     "reinterpret_cast<const T*>(rows + r * C::TSTR) + part * C::VQ + DR;"),
    ("mla: softmax scale dropped", "attn_mla_decode.cu", "attn_mla_decode",
     "const float sl2 = rsqrtf((float)C::W) * HP_MLA_LOG2E;", "const float sl2 = HP_MLA_LOG2E;"),
    ("mla: a page's neighbour through the block table at page ends", "attn_mla_decode.cu", "attn_mla_decode",
     "(long long)table[t / page_size] * page_size", "(long long)table[(t + 1) / page_size] * page_size"),
    ("mla: split end drops a token", "attn_mla_decode.cu", "attn_mla_decode",
     "const int t1 = min(len, t0 + chunk);", "const int t1 = min(len, t0 + chunk - 1);"),
    ("mla mma: the partner warp's half of S not added", "attn_mla_decode.cu", "attn_mla_decode",
     "(s[i >> 2][i & 3] + theirs[i * 32 + lane])", "(s[i >> 2][i & 3] + 0.f * theirs[i * 32 + lane])"),
    ("mla mma: no __syncthreads between the exchange's writes and reads", "attn_mla_decode.cu", "attn_mla_decode",
     "mine[i * 32 + lane] = s[i >> 2][i & 3];\n  __syncthreads();", "mine[i * 32 + lane] = s[i >> 2][i & 3];"),
    ("mla scalar: a score's quarters reduced without the last xor", "attn_mla_decode.cu", "attn_mla_decode",
     "    a += hp_shfl_xor(a, 2);\n", ""),
    ("mla: waits for one copy group too few", "attn_mla_decode.cu", "attn_mla_decode",
     "mla_wait(stages - 2);", "mla_wait(stages - 1);"),
    ("mla fp8: the decoded tile read before every thread wrote it", "attn_mla_decode.cu", "attn_mla_decode",
     "mla_decode_tile<T, KT, DL, DR, H>(dec, rows);\n      __syncthreads();", "mla_decode_tile<T, KT, DL, DR, H>(dec, rows);"),
    ("mla fp8: kv_scale ignored", "attn_mla_decode.cu", "attn_mla_decode",
     "const float kv_sc = C::F8 ? kv_scale[0] : 1.f;", "const float kv_sc = 1.f;"),
    ("peak fma: beta off", "peak.cu", "peak", "beta = 1.0f / 1024.0f;", "beta = 1.0f / 1000.0f;"),
    ("peak mma f16/bf16: odd columns of the identity lost", "peak.cu", "peak",
     "2 * t + 1 == g ? ONE_BITS : 0)", "0)"),
    ("peak mma f16/bf16: the salt is i, not i & zero", "peak.cu", "peak",
     "{a ^ ((unsigned)i & (unsigned)zero), a, a, a}; \\", "{a ^ (unsigned)i, a, a, a}; \\"),
    ("peak mma fp8: identity also in b1", "peak.cu", "peak",
     "const unsigned b1 = 0u;\n  for (int i = 0; i < iters; ++i) {", "const unsigned b1 = b0;\n  for (int i = 0; i < iters; ++i) {"),
    ("peak mma: one chain not stored", "peak.cu", "peak",
     "out[warp * 512 + k * 128 + lane * 4 + r] = c[k][r]; \\", "out[warp * 512 + (k & 2) * 128 + lane * 4 + r] = c[k][r]; \\"),
    ("gemm: wait_group waits for one group too few", "gemm.cu", "gemm",
     "hp_cp_async_wait<GEMM_STAGES - 2>();", "hp_cp_async_wait<GEMM_STAGES - 1>();"),
    ("gemm: cp.async store not swizzled like the ldmatrix reads", "gemm.cu", "gemm",
     "&sA[st][gemm_swz(row, ch)]", "&sA[st][row * 4 + ch]"),
    ("prefill: Q fragments read after sV is overwritten", "attn_prefill.cu", "attn_prefill",
     "  __syncthreads();  // every warp has its Q fragments", "  // every warp has its Q fragments"),
    ("prefill: causal mask one key late", "attn_prefill.cu", "attn_prefill",
     "(causal && key > qi)", "(causal && key > qi + 1)"),
    ("moe_gemm: the router weight dropped in the combine", "moe_gemm.cu", "moe_gemm",
     "s = fmaf(gates[p], ws[p * n + c], s);", "s += ws[p * n + c];"),
    ("moe_gemm: offsets[E] one short (the last expert loses a row)", "moe_gemm.cu", "moe_gemm",
     "offsets[experts] = run;", "offsets[experts] = run - 1;"),
    ("moe_gemm: gemv skips the last expert", "moe_gemm.cu", "moe_gemm",
     "if (rows <= 0 || col >= n) return;", "if (rows <= 0 || col >= n || e == (int)gridDim.y - 1) return;"),
    ("moe_gemm: gemv gathers row pair % top_k, not the pair's token", "moe_gemm.cu", "moe_gemm",
     "xr[i] = x + (long long)(pair[i] / top_k) * k;", "xr[i] = x + (long long)(pair[i] % top_k) * k;"),
    ("moe_gemm: gemv's remainder of 3 rows runs 2", "moe_gemm.cu", "moe_gemm",
     "case 3: hp_moe_gemm_gemv_rows<T, 3>", "case 3: hp_moe_gemm_gemv_rows<T, 2>"),
    ("moe_gemm: gemv's second vector meets the first's activations", "moe_gemm.cu", "moe_gemm",
     "hp_dot16<T>(w1, x1)", "hp_dot16<T>(w1, x0)"),
    ("moe_gemm: tiles gather by sorted position, not through the sorted list", "moe_gemm.cu", "moe_gemm",
     "tok[i] = i < tile_rows ? sorted[first + r0 + i] / top_k : -1;",
     "tok[i] = i < tile_rows ? (first + r0 + i) / top_k : -1;"),
    ("moe_gemm: tiles stop after the first 128 rows of an expert", "moe_gemm.cu", "moe_gemm",
     "for (int r0 = 0; r0 < rows; r0 += HP_MOE_BM) {", "for (int r0 = 0; r0 < min(rows, HP_MOE_BM); r0 += HP_MOE_BM) {"),
    ("moe_gemm: tiles drop the ragged k tail", "moe_gemm.cu", "moe_gemm",
     "for (int k0 = 0; k0 < k; k0 += HP_MOE_BK) {", "for (int k0 = 0; k0 + HP_MOE_BK <= k; k0 += HP_MOE_BK) {"),
    ("moe_gemm: tiles read shared memory before every thread has loaded it", "moe_gemm.cu", "moe_gemm",
     "      __syncthreads();\n#pragma unroll 4", "#pragma unroll 4"),
    ("moe_gemm: tiles skip the last expert", "moe_gemm.cu", "moe_gemm",
     "if (rows <= 0) return;  // idle expert", "if (rows <= 0 || e == (int)gridDim.y - 1) return;  // idle expert"),
    # Last: a header mutation recompiles every file.
    ("header: the bf16 hp_mma multiplies as f16", "hotpath_common.cuh", "gemm",
     '"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "', '"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "'),
    ("header: hp_ldsm_x4_t does not transpose", "hotpath_common.cuh", "attn_prefill",
     "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", "ldmatrix.sync.aligned.m8n8.x4.shared.b16"),
    # The decode kernels' split combine (hp_split_combine), by each group that launches it.
    ("combine: split weights in base e", "hotpath_common.cuh", "attn_decode",
     "exp2f(part_ml[(base + s) * 2] - mx)", "__expf(part_ml[(base + s) * 2] - mx)"),
    ("combine: every split reads split 0's output", "hotpath_common.cuh", "attn_decode",
     "num += s_w[s] * part_o[(base + s) * d + e];", "num += s_w[s] * part_o[base * d + e];"),
    ("mla combine: splits merged without rescaling by their maxima", "hotpath_common.cuh", "attn_mla_decode",
     "const float w = l > 0.f ? exp2f(part_ml[(base + s) * 2] - mx) : 0.f;", "const float w = l > 0.f ? 1.f : 0.f;"),
    ("mla combine: the columns past the block's threads not written", "hotpath_common.cuh", "attn_mla_decode",
     "for (int e = threadIdx.x; e < d; e += blockDim.x) {", "for (int e = threadIdx.x; e < d && e < 256; e += blockDim.x) {"),
    # The decode kernels' tensor-core online-softmax step (hp_mma_softmax_step), by each group.
    ("decode mma softmax: row max over 2 of the row's 4 lanes", "hotpath_common.cuh", "attn_decode",
     "    mx[r] = fmaxf(mx[r], hp_shfl_xor(mx[r], 2));\n", ""),
    ("decode mma softmax: O not rescaled when a row's max grows", "hotpath_common.cuh", "attn_decode",
     "    o[nb][0] *= alpha[0];\n    o[nb][1] *= alpha[0];", "    o[nb][0] *= 1.f;\n    o[nb][1] *= 1.f;"),
    ("mla mma softmax: row max over 2 of the row's 4 lanes", "hotpath_common.cuh", "attn_mla_decode",
     "    mx[r] = fmaxf(mx[r], hp_shfl_xor(mx[r], 2));\n", ""),
    ("mla mma softmax: O not rescaled when a row's max grows", "hotpath_common.cuh", "attn_mla_decode",
     "    o[nb][0] *= alpha[0];\n    o[nb][1] *= alpha[0];", "    o[nb][0] *= 1.f;\n    o[nb][1] *= 1.f;"),
    ("mla mma softmax: a token past the split's end weighted", "hotpath_common.cuh", "attn_mla_decode",
     "valid[nb][e] = tok0 + nb * 8 + 2 * t + (e & 1) < t1;", "valid[nb][e] = tok0 + nb * 8 + 2 * t + (e & 1) <= t1;"),
    # e4m3fnuz (AMD gfx94x), caught by the fnuz build's groups (-DHP_FP8_FNUZ).
    ("fnuz decode: exponent bias 7, not 8", "hotpath_common.cuh", "kv_fnuz",
     "float v = __uint_as_float(mag + (119u << 23));", "float v = __uint_as_float(mag + (120u << 23));"),
    ("fnuz decode: subnormals m·2⁻⁹, not m·2⁻¹⁰", "hotpath_common.cuh", "gemv_fp8w_fnuz",
     "(float)(b & 7u) * 0.0009765625f", "(float)(b & 7u) * 0.001953125f"),
    ("fnuz encode: exponent bias 7, not 8", "hotpath_common.cuh", "kv_fnuz",
     "(b >> 23) - 119u;  // e4m3fnuz exponent field", "(b >> 23) - 120u;  // e4m3fnuz exponent field"),
    ("fnuz encode: saturation at 448, not 240", "hotpath_common.cuh", "kv_fnuz",
     "fminf(fabsf(x), 240.f)", "fminf(fabsf(x), 448.f)"),
    ("fnuz encode: a negative value that rounds to zero written as 0x80 (NaN)", "hotpath_common.cuh", "kv_fnuz",
     "return (unsigned char)(mag ? (sign | mag) : 0u);", "return (unsigned char)(sign | mag);"),
    ("fnuz decode: attn_decode's tensor-core decode scaled as OCP", "hotpath_common.cuh", "attn_decode_fnuz",
     "#define HP_FP8_F16_SCALE 128.f", "#define HP_FP8_F16_SCALE 256.f"),
]

# ---- plan mutations: edits of `kernel` lines of the plans file (crates/core/src/launch_plan/text.rs):
# kernel <function> <gx> <gy> <gz> <bx> <by> <bz> <dynamic smem bytes> <arg>...
GRID, SMEM, ARGS = 2, 8, 9  # word indices


def ints(w):
    """The integer arguments of a kernel line by position (None for pointers and floats)."""
    return [int(a.split(":")[1]) if a.startswith(("i32:", "i64:")) else None for a in w[ARGS:]]


def swap_args(i, j):
    def edit(w):
        w[ARGS + i], w[ARGS + j] = w[ARGS + j], w[ARGS + i]
        return True
    return edit


def int_arg(i, f):
    """Integer argument i becomes f(value, all integer arguments); f gives None where it does not apply."""
    def edit(w):
        kind, _ = w[ARGS + i].split(":")
        new = f(ints(w)[i], ints(w))
        if new is None:
            return False
        w[ARGS + i] = f"{kind}:{new}"
        return True
    return edit


def f32_arg(i, f):
    """f32 argument i (hex bits) becomes f(value)."""
    def edit(w):
        (v,) = struct.unpack("<f", struct.pack("<I", int(w[ARGS + i].split(":")[1], 16)))
        w[ARGS + i] = "f32:%08x" % struct.unpack("<I", struct.pack("<f", f(v)))[0]
        return True
    return edit


def word(k, f):
    """Word k of the line (a grid dimension, the shared memory) becomes f(value); None: does not apply."""
    def edit(w):
        new = f(int(w[k]))
        if new is None:
            return False
        w[k] = str(new)
        return True
    return edit


def if_more_than_one(f):
    return lambda v, *_: f(v) if v > 1 else None


DECODE = r"hp_attn_decode_(f32|f16|bf16)_d\d+_g\d+"
DECODE_FP8 = r"hp_attn_decode_(f32|f16|bf16)_fp8kv_d\d+_g\d+"
MOE_GEMM = r"hp_moe_gemm_(gemv|tile)_(f32|f16|bf16)"
MLA = r"hp_attn_mla_decode_(f32|f16|bf16)(_fp8kv)?_l\d+_r\d+_h\d+"
# (label, group, function (full match), edit of the line's words: True if it changed the line)
PLAN_MUTATIONS = [
    ("decode plan: k_cache and v_cache swapped", "attn_decode", DECODE, swap_args(1, 2)),
    ("decode plan: 16 bytes less dynamic shared memory", "attn_decode", DECODE, word(SMEM, lambda b: b - 16)),
    ("decode plan: chunk one page short", "attn_decode", DECODE, int_arg(14, lambda v, a: v - a[11])),
    ("decode plan: splits argument one below the grid's", "attn_decode", DECODE,
     int_arg(13, if_more_than_one(lambda v: v - 1))),
    ("decode plan: one ring stage more than the shared memory holds", "attn_decode", DECODE,
     int_arg(15, lambda v, a: v + 1)),
    ("decode fp8 plan: k_scale and v_scale swapped", "attn_decode", DECODE_FP8, swap_args(16, 17)),
    ("decode fp8 plan: one ring stage more than the shared memory holds", "attn_decode", DECODE_FP8,
     int_arg(15, lambda v, a: v + 1)),
    ("combine plan: one split fewer", "attn_decode", r"hp_attn_decode_combine_\w+", int_arg(5, lambda v, a: v - 1)),
    ("mla plan: block_table and seq_lens swapped", "attn_mla_decode", MLA, swap_args(2, 3)),
    ("mla plan: 16 bytes less dynamic shared memory", "attn_mla_decode", MLA, word(SMEM, lambda b: b - 16)),
    ("mla plan: chunk one page short", "attn_mla_decode", MLA, int_arg(12, lambda v, a: v - a[9])),
    ("mla plan: splits argument one below the grid's", "attn_mla_decode", MLA,
     int_arg(11, if_more_than_one(lambda v: v - 1))),
    ("mla plan: one ring stage more than the shared memory holds", "attn_mla_decode", MLA,
     int_arg(13, lambda v, a: v + 1)),
    ("mla plan: one head tile short", "attn_mla_decode", MLA, word(GRID + 1, if_more_than_one(lambda v: v - 1))),
    ("mla combine plan: one split fewer", "attn_mla_decode", r"hp_attn_mla_decode_combine_\w+",
     int_arg(5, lambda v, a: v - 1)),
    ("gemv plan: a and w swapped", "gemv", r"hp_gemv_(f32|f16|bf16)", swap_args(0, 1)),
    ("gemv plan: splits argument one above the grid's", "gemv", r"hp_gemv_(f32|f16|bf16)",
     int_arg(7, if_more_than_one(lambda v: v + 1))),
    ("gemv plan: one row block short", "gemv", r"hp_gemv_(f32|f16|bf16)", word(GRID, if_more_than_one(lambda v: v - 1))),
    ("gemv_fp8w plan: the row scales are the weights", "gemv_fp8w", r"hp_gemv_fp8w_(f16|bf16)", swap_args(1, 2)),
    ("gemv_fp8w plan: one row block short", "gemv_fp8w", r"hp_gemv_fp8w_(f16|bf16)",
     word(GRID, if_more_than_one(lambda v: v - 1))),
    ("gemv_w4a16 plan: group halved", "gemv_w4a16", r"hp_gemv_w4a16_(f16|bf16)",
     int_arg(9, lambda v, a: v // 2 if v > 32 else None)),
    ("gemv_w4a16 plan: zero points flag flipped", "gemv_w4a16", r"hp_gemv_w4a16_(f16|bf16)",
     int_arg(10, lambda v, a: 1 - v)),
    ("gemv_w4a16 plan: splits argument one above the grid's", "gemv_w4a16", r"hp_gemv_w4a16_(f16|bf16)",
     int_arg(11, if_more_than_one(lambda v: v + 1))),
    ("embedding plan: hidden one short", "embedding", r"hp_embedding_\w+",
     int_arg(4, if_more_than_one(lambda v: v - 1))),
    ("kv_write plan: k and v swapped", "kv", r"hp_kv_write_\w+", swap_args(0, 1)),
    ("kv_write plan: slots one short", "kv", r"hp_kv_write_\w+", int_arg(6, lambda v, a: v - 1)),
    ("kv_read plan: page_size one more", "kv", r"hp_kv_read_\w+", int_arg(6, lambda v, a: v + 1)),
    ("add_rmsnorm plan: residual and weight swapped", "add_rmsnorm", r"hp_add_rmsnorm_\w+", swap_args(1, 2)),
    ("add_rmsnorm plan: tokens one short", "add_rmsnorm", r"hp_add_rmsnorm_\w+",
     int_arg(4, if_more_than_one(lambda v: v - 1))),
    ("add_rmsnorm plan: hidden one short", "add_rmsnorm", r"hp_add_rmsnorm_\w+",
     int_arg(5, if_more_than_one(lambda v: v - 1))),
    ("add_rmsnorm plan: eps a hundred times larger", "add_rmsnorm", r"hp_add_rmsnorm_\w+",
     f32_arg(6, lambda e: 100 * e)),
    ("silu_mul plan: intermediate one short", "silu_mul", r"hp_silu_mul_\w+",
     int_arg(3, if_more_than_one(lambda v: v - 1))),
    ("silu_mul plan: tokens one short", "silu_mul", r"hp_silu_mul_\w+", int_arg(2, if_more_than_one(lambda v: v - 1))),
    ("silu_mul plan: one block short", "silu_mul", r"hp_silu_mul_\w+", word(GRID, if_more_than_one(lambda v: v - 1))),
    ("rope plan: heads one short", "rope", r"hp_rope_\w+", int_arg(5, if_more_than_one(lambda v: v - 1))),
    ("rope plan: layout flag flipped", "rope", r"hp_rope_\w+", int_arg(8, lambda v, a: 1 - v)),
    ("rope plan: rotary_dim two short", "rope", r"hp_rope_\w+", int_arg(7, lambda v, a: v - 2 if v > 2 else None)),
    ("copy plan: one vector short", "stream", r"hp_copy", int_arg(2, lambda v, a: v - 1)),
    ("read plan: one partial fewer summed", "stream", r"hp_reduce_partials", int_arg(1, lambda v, a: v - 1)),
    ("l2_read plan: one pass more", "stream", r"hp_l2_read_\w+", int_arg(2, lambda v, a: v + 1)),
    ("triad plan: q doubled", "stream", r"hp_triad_\w+", f32_arg(4, lambda q: 2 * q)),
    ("peak plan: the zero salt is 1", "peak", r"hp_peak_mma_\w+", int_arg(2, lambda v, a: 1)),
    ("moe_gemm plan: x and w swapped", "moe_gemm", MOE_GEMM, swap_args(0, 1)),
    ("moe_gemm plan: top_k one more in the gather", "moe_gemm", MOE_GEMM, int_arg(5, lambda v, a: v + 1)),
    ("moe_gemm plan: one expert short in the grid", "moe_gemm", MOE_GEMM, word(GRID + 1, if_more_than_one(lambda v: v - 1))),
    ("moe_gemm plan: align counts one expert fewer", "moe_gemm", r"hp_moe_gemm_align", int_arg(4, lambda v, a: v - 1)),
    ("moe_gemm plan: combine's ids and router weights swapped", "moe_gemm", r"hp_moe_gemm_combine_\w+", swap_args(1, 2)),
    ("moe_gemm plan: combine one token short", "moe_gemm", r"hp_moe_gemm_combine_\w+",
     int_arg(4, if_more_than_one(lambda v: v - 1))),
    ("gemm plan: m and n swapped", "gemm", r"hp_gemm_\w+", swap_args(3, 4)),
    ("gemm plan: one row tile short", "gemm", r"hp_gemm_\w+", word(GRID + 1, if_more_than_one(lambda v: v - 1))),
    ("prefill plan: k and v swapped", "attn_prefill", r"hp_attn_prefill_\w+", swap_args(1, 2)),
    ("prefill plan: causal mask off", "attn_prefill", r"hp_attn_prefill_\w+",
     int_arg(8, lambda v, a: 0 if v == 1 else None)),
    ("prefill plan: scale doubled", "attn_prefill", r"hp_attn_prefill_\w+", f32_arg(9, lambda s: 2 * s)),
]


def mutate_plans(text, function, edit):
    """`text` with `edit` applied to every kernel line of `function`, and how many lines changed."""
    out, changed = [], 0
    for line in text.splitlines():
        w = line.split()
        if w and w[0] == "kernel" and re.fullmatch(function, w[1]) and edit(w):
            line = " ".join(w)
            changed += 1
        out.append(line)
    return "\n".join(out) + "\n", changed


print_lock = threading.Lock()


started = threading.local()  # when the mutation a worker thread is judging began


def report(status, label, how):
    took = time.monotonic() - getattr(started, "t", time.monotonic())
    with print_lock:
        print(f"{status:7} [{label}] ({took:.0f} s) {how}")
        sys.stdout.flush()


COMPILE_ERROR = re.compile(r":\d+:\d+: error:")  # g++'s, not a sanitizer's "runtime error:"
FAILURE = re.compile(r"^FAIL|kernel-emu stopped|EMU ERROR|ERROR: AddressSanitizer|runtime error")


def first_failure(output):
    lines = output.splitlines()
    how = next((l for l in lines if COMPILE_ERROR.search(l) or FAILURE.search(l)), "")
    return " ".join(how.split())[:140]


def run(cmd, env):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
        return r.returncode, r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        return None, ""


class Worker:
    """A copy of kernels/ and a build directory of its own."""

    def __init__(self, i, san):
        self.dir = os.path.join(WORK, f"w{i}")
        self.kernels = os.path.join(self.dir, "kernels")
        self.build = os.path.join(self.dir, "build")
        self.san = san
        shutil.rmtree(self.kernels, ignore_errors=True)
        shutil.copytree(os.path.join(ROOT, "kernels"), self.kernels)

    def emulate(self, groups, env, only=False):
        """The emulator on `groups`; `only`: built of those groups' tests alone (a header
        mutation then recompiles one test file, not all of them)."""
        cmd = [SCRIPT, *self.san, "--kernels", self.kernels, "--build", self.build, "--fail-fast"]
        return run(cmd + (["--only"] if only else []) + groups, env)

    def kernel_mutation(self, m, env):
        label, file, group, old, new = m
        orig = open(os.path.join(ROOT, "kernels", file)).read()
        if old not in orig:
            report("STALE", label, f"text not found in kernels/{file}")
            return False
        path = os.path.join(self.kernels, file)
        with open(path, "w") as f:
            f.write(orig.replace(old, new, 1))
        rc, out = self.emulate([group], env, only=True)
        with open(path, "w") as f:
            f.write(orig)
        return judge(label, group, rc, out)


def judge(label, group, rc, out):
    how = first_failure(out)
    if rc is None:
        report("TIMEOUT", label, f"no answer in {TIMEOUT_S} s")
    elif rc != 0 and COMPILE_ERROR.search(how):
        report("BROKEN", label, f"the mutation does not compile: {how}")
    elif rc != 0 and "plans file" in out:
        report("BROKEN", label, f"the mutated plans file does not read: {how}")
    elif rc != 0:
        report("caught", label, how)
        return True
    else:
        report("MISSED", label, f"the {group} checks still pass")
    return False


def verdict_digest(root, build, san, only):
    """sha256 of every input the mutations' verdicts depend on (see the module's doc), for the
    repository at `root` and the unmutated run's build directory `build`."""
    h = hashlib.sha256()

    def add(name, data):
        h.update(f"{name}\0{len(data)}\0".encode())
        h.update(data)

    def add_file(name, path):
        with open(path, "rb") as fh:
            add(name, fh.read())

    for top in ("kernels", os.path.join("tools", "kernel-emu")):
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__")
            for f in sorted(files):
                path = os.path.join(d, f)
                add_file(os.path.relpath(path, root), path)
    add_file("scripts/emulate-kernels.sh", os.path.join(root, "scripts", "emulate-kernels.sh"))
    for rel in ("cases.txt", "plans.txt", "fnuz/cases.txt", "fnuz/plans.txt"):
        path = os.path.join(build, rel)
        if os.path.isfile(path):
            add_file(rel, path)
    cxx = subprocess.run(["g++", "--version"], capture_output=True)
    add("g++", cxx.stdout)
    add("flags", " ".join(san + [only]).encode())
    return h.hexdigest()


def read_record(path):
    """The digest recorded at `path`, or "" when there is none (a missing or unreadable file,
    or a link: this script never follows one it did not make)."""
    if not path:
        return ""
    try:
        # O_NOFOLLOW refuses a link in the same call that opens (no check-then-open race);
        # O_NONBLOCK keeps a FIFO from blocking the open, and only a regular file is read.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd) as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            return f.read().split()[0]
    except (OSError, IndexError):
        return ""


def write_record(path, digest):
    """Records `digest` at `path` through a temporary file of our own (created new, never
    through a link, as scripts/peers/torch_peers.py's write_new), renamed over it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{digest} {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class UsageError(Exception):
    """A bad command line; its message is the one sentence printed on stderr."""


def parse_args(args):
    """(sanitizer flags, worker count, label filter) from the command line, or UsageError."""
    san, jobs, only = ["--no-sanitize"], 2, None
    rest = iter(args)
    for a in rest:
        if a == "--sanitize":
            san = []
        elif a == "-j":
            value = next(rest, None)
            if value is None or not value.isdigit() or int(value) < 1:
                raise UsageError(f"mutate.py: -j takes a whole number of workers, 1 or more, not "
                                 f"{'nothing' if value is None else repr(value)}")
            jobs = int(value)
        elif a.startswith("-"):
            raise UsageError(f"mutate.py: unknown option {a!r}; accepted: --sanitize, -j N and one "
                             f"LABEL-SUBSTRING")
        elif only is not None:
            raise UsageError(f"mutate.py: a second label filter {a!r} (after {only!r}); one "
                             f"LABEL-SUBSTRING is accepted")
        else:
            only = a
    return san, jobs, only or ""


def main():
    try:
        san, jobs, only = parse_args(sys.argv[1:])
    except UsageError as e:
        print(e, file=sys.stderr)
        return 2
    kernel_ms = [m for m in KERNEL_MUTATIONS if only in m[0]]
    plan_ms = [m for m in PLAN_MUTATIONS if only in m[0]]
    groups = sorted({m[2] for m in kernel_ms} | {m[1] for m in plan_ms})
    if not groups:
        print(f"mutate.py: no mutation label contains {only!r}; run with no filter for all of them",
              file=sys.stderr)
        return 2
    os.makedirs(WORK, exist_ok=True)
    workers = [Worker(0, san)]  # the others are made only when the mutations run
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

    # The unmutated kernels and plans must pass, or every mutation would look caught. This
    # run also builds worker 0, the hotpath binary (reused by every later run) and the plans.
    rc, out = workers[0].emulate(groups, env)
    if rc != 0:
        print(out)
        print("mutate.py: the unmutated kernels fail; fix them first")
        return 1
    record = os.environ.get("HOTPATH_MUTATE_PASSED", "")
    digest = verdict_digest(ROOT, workers[0].build, san, only) if record else ""
    if record and read_record(record) == digest:
        print(f"mutate.py: the unmutated kernels and plans pass, and every mutation was caught in an "
              f"earlier run with the same inputs (sha256 {digest[:16]}, recorded in {record}); "
              f"not rerun (unset HOTPATH_MUTATE_PASSED to rerun)")
        return 0
    workers += [Worker(i, san) for i in range(1, jobs)]
    env.setdefault("HOTPATH", os.path.join(ROOT, "target", "release", "hotpath"))
    base = os.path.join(WORK, "base")
    os.makedirs(base, exist_ok=True)
    for f in ("kernel-emu", "cases.txt", "plans.txt"):
        shutil.copy2(os.path.join(workers[0].build, f), base)
    plans = open(os.path.join(base, "plans.txt")).read()

    def plan_mutation(m):
        label, group, function, edit = m
        text, changed = mutate_plans(plans, function, edit)
        if changed == 0:
            report("STALE", label, f"no {function} launch it applies to in the {group} plans")
            return False
        path = os.path.join(base, f"plans.{PLAN_MUTATIONS.index(m)}.txt")
        with open(path, "w") as f:
            f.write(text)
        rc, out = run([os.path.join(base, "kernel-emu"), "--fail-fast", "--cases", os.path.join(base, "cases.txt"),
                       "--plans", path, group], env)
        return judge(label, group, rc, out)

    # Plan mutations first (no build), then kernel mutations in file order, so a worker
    # mostly recompiles only the file it mutates; header mutations last.
    tasks = [(lambda w, m=m: plan_mutation(m)) for m in plan_ms]
    tasks += [(lambda w, m=m: w.kernel_mutation(m, env)) for m in kernel_ms]
    results = [None] * len(tasks)
    next_task = iter(range(len(tasks)))
    take = threading.Lock()

    def loop(w):
        while True:
            with take:
                i = next(next_task, None)
            if i is None:
                return
            started.t = time.monotonic()
            results[i] = tasks[i](w)

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    caught = sum(1 for r in results if r)
    print(f"mutations: {caught} caught, {len(results) - caught} missed, stale or broken "
          f"({len(kernel_ms)} kernel, {len(plan_ms)} plan)")
    if caught != len(results):
        return 1
    if record:
        try:
            write_record(record, digest)
        except OSError as e:  # the verdicts stand; the next run reruns the mutations
            print(f"mutate.py: could not record this run at {record}: {e.strerror}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
