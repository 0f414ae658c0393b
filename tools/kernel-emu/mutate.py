#!/usr/bin/env python3
"""Mutation check of the emulator tests (not part of CI).

Each mutation breaks one kernel in a copy of kernels/; scripts/emulate-kernels.sh must then
fail that kernel's group (a wrong result, or the emulator stopping the kernel). Prints one
line per mutation and exits non-zero if a broken kernel went unnoticed.

usage: tools/kernel-emu/mutate.py [--sanitize] [LABEL-SUBSTRING]
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kernel-emu-mutate")

# (label, file, group, old text (first occurrence is replaced), new text)
MUTATIONS = [
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
     "const int t1 = min(context, t0 + per_split);", "const int t1 = min(context, t0 + per_split - 1);"),
    ("decode: no __syncthreads before the warp merge", "attn_decode.cu", "attn_decode",
     "  __syncthreads();\n  for (int idx = threadIdx.x;", "  for (int idx = threadIdx.x;"),
    ("decode: GQA head mapping", "attn_decode.cu", "attn_decode",
     "q[((long long)b * hq + g * group + h) * D", "q[((long long)b * hq + h * hkv + g) * D"),
    ("decode: page offset", "attn_decode.cu", "attn_decode",
     "(page * page_size + t % page_size)", "(page * page_size + (t + 1) % page_size)"),
    ("decode: warp merge without rescale", "attn_decode.cu", "attn_decode",
     "o += f * s_acc[w][h][e];", "o += s_acc[w][h][e];"),
    ("decode: online softmax without rescale", "attn_decode.cu", "attn_decode",
     "l[h] = l[h] * corr + p;", "l[h] = l[h] + p;"),
    ("combine: sum not rescaled", "attn_decode.cu", "attn_decode", "den += f * l;", "den += l;"),
    ("combine: every split reads split 0's output", "attn_decode.cu", "attn_decode",
     "num += f * part_o[(base + s) * d + e];", "num += f * part_o[base * d + e];"),
    ("peak fma: beta off", "peak.cu", "peak", "beta = 1.0f / 1024.0f;", "beta = 1.0f / 1000.0f;"),
    ("peak mma f16/bf16: odd columns of the identity lost", "peak.cu", "peak",
     "2 * t + 1 == g ? ONE_BITS : 0)", "0)"),
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
    ("header: the bf16 hp_mma multiplies as f16", "hotpath_common.cuh", "gemm",
     '"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "', '"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "'),
    ("header: hp_ldsm_x4_t does not transpose", "hotpath_common.cuh", "attn_prefill",
     "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16", "ldmatrix.sync.aligned.m8n8.x4.shared.b16"),
]


def main():
    args = [a for a in sys.argv[1:] if a != "--sanitize"]
    san = [] if "--sanitize" in sys.argv else ["--no-sanitize"]
    only = args[0] if args else ""
    kdir = os.path.join(WORK, "kernels")
    shutil.rmtree(kdir, ignore_errors=True)
    shutil.copytree(os.path.join(ROOT, "kernels"), kdir)
    caught = missed = 0
    for label, file, group, old, new in MUTATIONS:
        if only and only not in label:
            continue
        orig = open(os.path.join(ROOT, "kernels", file)).read()
        if old not in orig:
            print(f"STALE   [{label}] text not found in kernels/{file}")
            missed += 1
            continue
        with open(os.path.join(kdir, file), "w") as f:
            f.write(orig.replace(old, new, 1))
        r = subprocess.run([os.path.join(ROOT, "scripts", "emulate-kernels.sh"), *san, "--kernels", kdir,
                            "--build", os.path.join(WORK, "build"), group],
                           capture_output=True, text=True)
        with open(os.path.join(kdir, file), "w") as f:
            f.write(orig)
        lines = (r.stdout + r.stderr).splitlines()
        how = next((l for l in lines if l.startswith("FAIL") or "kernel-emu stopped" in l or "error:" in l), "")
        how = " ".join(how.split())[:120]
        if r.returncode != 0 and "error:" in how:
            print(f"BROKEN  [{label}] the mutated kernel does not compile: {how}")
            missed += 1
        elif r.returncode != 0:
            print(f"caught  [{label}] {how}")
            caught += 1
        else:
            print(f"MISSED  [{label}] the {group} checks still pass")
            missed += 1
        sys.stdout.flush()
    print(f"mutations: {caught} caught, {missed} missed, stale or broken")
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
