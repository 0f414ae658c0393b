#!/usr/bin/env python3
"""torch (and FlashInfer) at the benchmark ids of a hotpath run on the same GPU.

    torch_peers.py --ours RUN.json --out PEERS.json [--table TABLE] [--min-samples 10]
    torch_peers.py --ours RUN.json --samples SAMPLES.json --out PEERS.json

For every benchmark of RUN.json (our `hotpath run` on this GPU) whose op has a peer, the peer
runs the same op at the same shape and dtype, and PEERS.json (hotpath.results/1) holds it at
our id with the impl replaced, so `hotpath report`, `compare` and `gap` read it like ours:

    copy          torch `copy_`                                       impl torch
    gemv, gemm    torch `F.linear` (cuBLAS); fp8 via `torch._scaled_mm`  impl torch
    attn_prefill  SDPA, the flash backend, GQA                        impl torch-sdpa-flash
    attn_decode   SDPA on a contiguous KV cache, GQA                  impl torch-sdpa
                  FlashInfer's paged decode, when it imports          impl flashinfer
    kv_write      `index_copy_` of the new rows into the cache slots  impl torch
    kv_read       a gather (`index_select`) of the tokens' cache slots impl torch

Timing: CUDA events around one call; before every sample a buffer of at least 3x the L2 is
written (not timed), so the peer starts cold as ours does; 3 warm-up calls, then at least
--min-samples samples and more until 0.5 s of samples or 200. Every peer output is checked
against the same computation in float64 on the GPU, at our benchmark's nmse tolerance (exact
for the copies and gathers). A benchmark the peer cannot run (fp8 KV cache, f32 flash
attention, no FlashInfer) is skipped with one line on stderr saying why.

--samples SAMPLES.json ({"<peer id>": [seconds, ...]}) writes PEERS.json from samples measured
elsewhere, without torch (no correctness check then: the entries say so by having none).
Exit status: 0 written; 2 bad arguments or input files (one sentence on stderr).
docs/gpu-check.md says more.
"""

import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_results  # noqa: E402

TOOL = "torch_peers.py"
CLOCK = "CUDA events (torch.cuda.Event) around one call"


def fail(msg):
    print(f"torch_peers.py: {msg}", file=sys.stderr)
    sys.exit(2)


def skip(bench_id, why):
    print(f"torch_peers.py: skipped {bench_id}: {why}", file=sys.stderr)


class Timer:
    """Cold, event-timed samples of one call."""

    def __init__(self, torch, min_samples):
        self.torch = torch
        self.min_samples = min_samples
        props = torch.cuda.get_device_properties(0)
        self.l2_bytes = int(getattr(props, "L2_cache_size", 0) or 0) or 64 * 10**6
        self.scrub_bytes = 3 * self.l2_bytes
        self.scrub = torch.empty(self.scrub_bytes // 4, dtype=torch.float32, device="cuda")
        self.start = torch.cuda.Event(enable_timing=True)
        self.stop = torch.cuda.Event(enable_timing=True)

    def samples(self, fn):
        for _ in range(3):
            fn()
        self.torch.cuda.synchronize()
        out, began = [], time.monotonic()
        while len(out) < self.min_samples or (time.monotonic() - began < 0.5 and len(out) < 200):
            self.scrub.zero_()
            self.start.record()
            fn()
            self.stop.record()
            self.stop.synchronize()
            out.append(self.start.elapsed_time(self.stop) / 1e3)
        return out

    def cache(self):
        return {
            "mode": "cold",
            "method": f"flush: {self.scrub_bytes} bytes written before each sample (3x the L2)",
            "sets": 1,
            "set_bytes": 0,
            "llc_bytes": self.l2_bytes,
            "llc_source": "torch.cuda.get_device_properties(0).L2_cache_size",
            "llc_multiple": 3.0,
            "llc_target_multiple": 3,
        }


def nmse(o, r):
    """Σ(o − r)² ÷ Σ r² and the largest |o − r|, of two flat float64 tensors."""
    den = float((r * r).sum())
    diff = o - r
    num = float((diff * diff).sum())
    return (num / den if den > 0 else num), float(diff.abs().max()) if o.numel() else 0.0


def correctness(torch, out, ref, tolerance, reference):
    o, r = out.double().flatten(), ref.double().flatten()  # widened once, for every check
    non_finite = int((~torch.isfinite(o)).sum())
    err, max_abs = nmse(o, r)
    return {
        "reference": reference,
        "nmse": err,
        "max_abs_err": max_abs,
        "pass": non_finite == 0 and out.numel() == ref.numel() and err <= tolerance,
        "tolerance_nmse": tolerance,
        "checked_elements": ref.numel(),
        "total_elements": ref.numel(),
        "non_finite": non_finite,
    }


def dtypes(torch):
    return {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16,
            "fp8_e4m3": getattr(torch, "float8_e4m3fn", None)}


def rand(torch, shape, dtype):
    return (torch.rand(shape, device="cuda", dtype=torch.float32) * 2 - 1).to(dtype)


def copy_peer(torch, b, dt, tol):
    n = int(b["shape"]["elements"])
    src, dst = rand(torch, (n,), dt), torch.empty(n, device="cuda", dtype=dt)
    return [("torch", lambda: dst.copy_(src), lambda: (dst, src, 0.0))]


def linear_peer(torch, b, dt, tol):
    F = torch.nn.functional
    s = b["shape"]
    m, n, k = int(s["m"]), int(s["n"]), int(s["k"])
    if b["dtype"] == "fp8_e4m3":
        if dt is None or not hasattr(torch, "_scaled_mm"):
            raise RuntimeError("this torch has no float8_e4m3fn or torch._scaled_mm")
        a, w = rand(torch, (m, k), dt), rand(torch, (n, k), dt)
        one = torch.ones((), device="cuda", dtype=torch.float32)
        out = {}

        def run():
            # A tuple (out, amax) before torch 2.5, the output alone since.
            r = torch._scaled_mm(a, w.t(), scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
            out["c"] = r[0] if isinstance(r, tuple) else r

        return [("torch", run, lambda: (out["c"], a.float().double() @ w.float().double().t(), tol))]
    a, w = rand(torch, (m, k), dt), rand(torch, (n, k), dt)
    out = {}

    def run():
        out["c"] = F.linear(a, w)

    return [("torch", run, lambda: (out["c"], a.double() @ w.double().t(), tol))]


def attention_ref(torch, q, k, v, causal):
    """Attention in float64, one query head at a time, GQA by head index."""
    hq, hkv = q.shape[1], k.shape[1]
    out = torch.empty(q.shape, device="cuda", dtype=torch.float64)
    for h in range(hq):
        qh, kh, vh = q[:, h].double(), k[:, h * hkv // hq].double(), v[:, h * hkv // hq].double()
        s = qh @ kh.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if causal:
            sq, sk = s.shape[-2], s.shape[-1]
            mask = torch.ones(sq, sk, device="cuda", dtype=torch.bool).tril(sk - sq)
            s = s.masked_fill(~mask, float("-inf"))
        out[:, h] = torch.softmax(s, dim=-1) @ vh
    return out


def prefill_peer(torch, b, dt, tol):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    F = torch.nn.functional
    s = b["shape"]
    bsz, seq, hq, hkv, d = (int(s.get(x, dflt)) for x, dflt in
                            (("batch", 1), ("seq", 0), ("heads_q", 32), ("heads_kv", 8), ("head_dim", 128)))
    causal = int(s.get("causal", 1)) == 1
    if b["dtype"] not in ("f16", "bf16"):
        raise RuntimeError(f"SDPA's flash backend runs f16 and bf16, not {b['dtype']}")
    q, k, v = (rand(torch, (bsz, h, seq, d), dt) for h in (hq, hkv, hkv))
    out = {}

    def run():
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            out["o"] = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)

    return [("torch-sdpa-flash", run, lambda: (out["o"], attention_ref(torch, q, k, v, causal), tol))]


def decode_peers(torch, b, dt, tol):
    F = torch.nn.functional
    s = b["shape"]
    if int(s.get("kv_fp8", 0)) == 1:
        raise RuntimeError("torch has no fp8 paged KV cache to compare with")
    bsz, ctx, hq, hkv, d, ps = (int(s.get(x, dflt)) for x, dflt in
                                (("batch", 1), ("context", 0), ("heads_q", 32), ("heads_kv", 8),
                                 ("head_dim", 128), ("page_size", 16)))
    q = rand(torch, (bsz, hq, 1, d), dt)
    k, v = rand(torch, (bsz, hkv, ctx, d), dt), rand(torch, (bsz, hkv, ctx, d), dt)
    out = {}

    def sdpa():
        out["o"] = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)

    peers = [("torch-sdpa", sdpa, lambda: (out["o"], attention_ref(torch, q, k, v, False), tol))]
    try:
        import flashinfer
    except ImportError:
        skip(b["id"], "FlashInfer does not import here; its paged decode is not run")
        return peers
    pages_per_seq = -(-ctx // ps)
    pages = bsz * pages_per_seq
    order = torch.randperm(pages, device="cuda").int()
    # Page j of sequence i is physical page order[i * pages_per_seq + j] (NHD: [page, 2,
    # token in page, KV head, element]); the last page's unused rows stay zero.
    cache = torch.zeros((pages, 2, ps, hkv, d), device="cuda", dtype=dt)
    for which, src in ((0, k), (1, v)):
        padded = torch.zeros((bsz, hkv, pages_per_seq * ps, d), device="cuda", dtype=dt)
        padded[:, :, :ctx] = src
        cache[order.long(), which] = (padded.view(bsz, hkv, pages_per_seq, ps, d)
                                      .permute(0, 2, 3, 1, 4).reshape(pages, ps, hkv, d))
    indptr = torch.arange(0, bsz + 1, device="cuda", dtype=torch.int32) * pages_per_seq
    last = torch.full((bsz,), ctx - (pages_per_seq - 1) * ps, device="cuda", dtype=torch.int32)
    workspace = torch.empty(128 * 1024 * 1024, dtype=torch.uint8, device="cuda")
    wrapper = flashinfer.BatchDecodeWithPagedKVCacheWrapper(workspace, "NHD")
    wrapper.plan(indptr, order, last, hq, hkv, d, ps, pos_encoding_mode="NONE", q_data_type=dt, kv_data_type=dt)
    q3 = q[:, :, 0].contiguous()

    def fi():
        out["fi"] = wrapper.run(q3, cache)

    peers.append(("flashinfer", fi,
                  lambda: (out["fi"], attention_ref(torch, q, k, v, False)[:, :, 0], tol)))
    return peers


def kv_peers(torch, b, dt, tol, write):
    s = b["shape"]
    if int(s.get("kv_fp8", 0)) == 1:
        raise RuntimeError("torch has no fp8 paged KV cache to compare with")
    t, hkv, d, ps = (int(s.get(x, dflt)) for x, dflt in
                     (("tokens", 0), ("heads_kv", 8), ("head_dim", 128), ("page_size", 16)))
    pages = -(-t // ps)
    order = torch.randperm(pages, device="cuda")
    tok = torch.arange(t, device="cuda")
    slots = order[tok // ps] * ps + tok % ps
    row = hkv * d
    cache = rand(torch, (2, pages * ps, row), dt)
    kv = rand(torch, (2, t, row), dt)
    if write:
        def run():
            cache[0].index_copy_(0, slots, kv[0])
            cache[1].index_copy_(0, slots, kv[1])

        return [("torch", run, lambda: (cache[:, slots], kv, 0.0))]
    out = {}

    def gather():
        out["kv"] = torch.stack((cache[0].index_select(0, slots), cache[1].index_select(0, slots)))

    return [("torch", gather, lambda: (out["kv"], cache[:, slots], 0.0))]


PEERS = {
    "copy": copy_peer,
    "gemv": linear_peer,
    "gemm": linear_peer,
    "attn_prefill": prefill_peer,
    "attn_decode": decode_peers,
    "kv_write": lambda torch, b, dt, tol: kv_peers(torch, b, dt, tol, True),
    "kv_read": lambda torch, b, dt, tol: kv_peers(torch, b, dt, tol, False),
}


def measured(ours, min_samples):
    """Runs every peer of every benchmark of `ours` that has one; the peers' entries."""
    try:
        import torch
    except ImportError:
        fail("torch does not import here; give --samples to write a peers file without it")
    if not torch.cuda.is_available():
        fail("torch sees no CUDA device; the peers run on the GPU our run measured")
    timer = Timer(torch, min_samples)
    out = []
    for b in peer_results.ours_by_key(ours).values():
        if b["op"] not in PEERS or b.get("status") != "ok":
            continue
        tol = (b.get("correctness") or {}).get("tolerance_nmse", 1e-4)
        dt = dtypes(torch).get(b["dtype"])
        try:
            peers = PEERS[b["op"]](torch, b, dt, tol)
        except Exception as e:  # a peer that cannot run this benchmark is skipped, not fatal
            skip(b["id"], str(e).splitlines()[0] if str(e) else type(e).__name__)
            continue
        for impl, fn, check in peers:
            try:
                samples = timer.samples(fn)
                got, ref, tolerance = check()
                c = correctness(torch, got, ref, tolerance, "torch-f64" if tolerance else "exact")
            except Exception as e:
                skip(peer_results.peer_id(b["id"], impl), str(e).splitlines()[0] if str(e) else type(e).__name__)
                continue
            out.append(peer_results.peer_benchmark(b, impl, samples, c, timer.cache(), CLOCK))
            print(f"torch_peers.py: {out[-1]['id']}: median {out[-1]['time']['median_s'] * 1e6:.1f} µs, "
                  f"{'correct' if c['pass'] else 'WRONG (nmse %.2e)' % c['nmse']}", file=sys.stderr)
        torch.cuda.empty_cache()
    return out


def from_samples(ours, path):
    """The peers' entries from a samples file {"<peer id>": [seconds, ...]}."""
    try:
        with open(path) as f:
            given = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"--samples {path} does not read as JSON ({e}); give {{\"<peer id>\": [seconds, ...]}}")
    if not isinstance(given, dict):
        fail(f"--samples {path} holds a {type(given).__name__}; give {{\"<peer id>\": [seconds, ...]}}")
    by_key = peer_results.ours_by_key(ours)
    out = []
    cache = {"mode": "cold", "method": "as measured elsewhere (not recorded)", "sets": 1,
             "set_bytes": 0, "llc_bytes": 0, "llc_multiple": 0.0, "llc_target_multiple": 3}
    for pid, samples in given.items():
        key, _, impl = pid.rpartition("/")
        if key not in by_key:
            fail(f"--samples names {pid}, which is not a benchmark of the --ours run; give ids of that run with the peer's impl")
        try:
            out.append(peer_results.peer_benchmark(by_key[key], impl, samples, None, cache,
                                                   "as measured elsewhere (--samples)"))
        except (ValueError, TypeError) as e:
            fail(str(e))
    return out


def write_new(path, text):
    """Writes `path` through a temporary file of our own (created new, never through a link),
    renamed over it, so a reader never sees half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one sentence and exit 2 like the script's others
    (argparse's own print the usage first)."""

    def error(self, message):
        fail(f"{message}; see --help")


def main(argv=None):
    p = Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ours", required=True, help="our results file (hotpath run) on this GPU")
    p.add_argument("--out", required=True, help="the peers' results file to write")
    p.add_argument("--samples", help="write from these samples instead of measuring (no torch needed)")
    p.add_argument("--table", help="also write the ours-against-peers markdown table here")
    p.add_argument("--min-samples", type=int, default=10, help="samples per peer benchmark, at least 10")
    a = p.parse_args(argv)
    if a.min_samples < 10:
        fail(f"--min-samples {a.min_samples} is below 10; give 10 or more")
    try:
        ours = peer_results.load(a.ours)
    except (OSError, ValueError) as e:
        fail(f"--ours {a.ours}: {e}")
    benchmarks = from_samples(ours, a.samples) if a.samples else measured(ours, a.min_samples)
    data = peer_results.peers_file(ours, benchmarks, TOOL)
    try:
        write_new(a.out, json.dumps(data, indent=2))
        if a.table:
            write_new(a.table, peer_results.table(ours, data))
    except OSError as e:
        fail(f"cannot write {e.filename}: {e.strerror}; give a path in a writable directory")
    print(f"torch_peers.py: {len(benchmarks)} peer benchmark(s) written to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
