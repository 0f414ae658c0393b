"""A peer's timings as a hotpath.results/1 file, and the ours-against-peer table.

No torch here: this module turns samples measured elsewhere (torch_peers.py on a GPU, or a
samples file) into the results format `hotpath report`, `compare` and `gap` read. A peer
benchmark is the same work as ours at the same id but for the impl, so it takes our
benchmark's flops, bytes, intensity and bound, and its roofline efficiencies are ours scaled
by our median over the peer's (the same work against the same roofs, in another time).
Statistics follow crates/core/src/stats.rs: linear-interpolated percentiles (NumPy's
default), Bessel-corrected standard deviation, unscaled median absolute deviation.
"""

import json
import math
import time

SCHEMA = "hotpath.results/1"


def percentile(sorted_xs, p):
    """Percentile `p` in [0, 100] of sorted samples, linear between closest ranks."""
    n = len(sorted_xs)
    if n == 1:
        return sorted_xs[0]
    rank = min(max(p, 0.0), 100.0) / 100.0 * (n - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (rank - lo)


def time_stats(samples):
    """hotpath's TimeStats of `samples` (seconds per iteration), and the relative standard
    error of the mean and the coefficient of variation."""
    s = sorted(samples)
    n = len(s)
    mean = sum(s) / n
    stdev = math.sqrt(sum((x - mean) ** 2 for x in s) / (n - 1)) if n > 1 else 0.0
    median = percentile(s, 50.0)
    mad = percentile(sorted(abs(x - median) for x in s), 50.0)
    stats = {
        "median_s": median,
        "min_s": s[0],
        "mean_s": mean,
        "stdev_s": stdev,
        "p10_s": percentile(s, 10.0),
        "p90_s": percentile(s, 90.0),
        "mad_s": mad,
    }
    rel_stderr = stdev / math.sqrt(n) / mean if n > 1 else math.inf
    return stats, rel_stderr, (stdev / mean if mean else 0.0)


def peer_id(ours_id, impl):
    """Our benchmark id with the impl (its last part) replaced."""
    return ours_id.rsplit("/", 1)[0] + "/" + impl


def peer_benchmark(ours, impl, samples, correctness, cache, clock):
    """The results entry of peer `impl` timed at `samples` on our benchmark `ours`.

    `correctness`: hotpath's Correctness object for the peer's output, or None when it was
    not checked. `cache`: hotpath's CacheRotation object saying how the cache was made cold.
    `clock`: how a sample was timed, in words."""
    if len(samples) < 1 or any(not (x > 0 and math.isfinite(x)) for x in samples):
        raise ValueError(f"{peer_id(ours['id'], impl)}: samples must be positive seconds, got {samples[:5]}")
    stats, rel_stderr, cv = time_stats(samples)
    median = stats["median_s"]
    ours_median = (ours.get("time") or {}).get("median_s")
    roofline = None
    if ours.get("roofline") and ours_median:
        r = dict(ours["roofline"])
        scale = ours_median / median
        for k in ("efficiency_spec", "efficiency_measured"):
            if r.get(k) is not None:
                r[k] = r[k] * scale
        roofline = r
    passed = correctness is None or correctness.get("pass", False)
    return {
        "id": peer_id(ours["id"], impl),
        "op": ours["op"],
        "shape": ours["shape"],
        "dtype": ours["dtype"],
        "impl": impl,
        "status": "ok" if passed else "failed",
        "error": None,
        "flops": ours["flops"],
        "bytes": ours["bytes"],
        "time": stats,
        "samples_s": list(samples),
        "rates": {"flops_per_s": ours["flops"] / median, "bytes_per_s": ours["bytes"] / median},
        "roofline": roofline,
        "correctness": correctness,
        "discarded_samples": 0,
        "measurement": {
            "iters_per_sample": 1,
            "warmup_iters": 3,
            "stop_reason": "sample_cap",
            "rel_stderr": rel_stderr,
            "cv": cv,
            "wall_s": sum(samples),
            "sm_clock_mhz": None,
            "cache": cache,
            "estimator": "median",
            "clock": clock,
        },
    }


def peers_file(ours_file, benchmarks, tool):
    """A results file of peer `benchmarks` measured on the device of `ours_file` (our run on the
    same device: its device, host, hardware roofs and measured roofs are the peers' too)."""
    config = dict(ours_file["config"])
    config["suite"] = "peers"
    config["inputs"] = f"{tool}: uniform random, torch.manual_seed(0) before each benchmark"
    return {
        "schema": SCHEMA,
        "tool": {"version": tool, "git": None},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": ours_file["host"],
        "device": ours_file["device"],
        "hardware": ours_file["hardware"],
        "measured": ours_file.get("measured", {}),
        "config": config,
        "benchmarks": benchmarks,
    }


def _pct(x):
    return "-" if x is None else f"{100.0 * x:.1f} %"


def _us(s):
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.3f} ms"


def ours_by_key(ours_file):
    """Our benchmarks by id without the impl: our own kernel (impl hotpath) where the run has
    it, else the first other impl at that id (a vendor library our backend called)."""
    by_key = {}
    for b in ours_file["benchmarks"]:
        key = b["id"].rsplit("/", 1)[0]
        if key not in by_key or (b["impl"] == "hotpath" and by_key[key]["impl"] != "hotpath"):
            by_key[key] = b
    return by_key


def table(ours_file, peers):
    """Markdown: every benchmark of ours (impl hotpath where the run has it) that a peer also
    ran, with both medians, the ratio
    (the peer's median over ours: above 1, ours is faster) and each side's share of the
    measured and the spec roof."""
    ours = ours_by_key(ours_file)
    rows = [
        "| benchmark | ours | peer | peer median | peer ÷ ours | ours % measured roof "
        "| ours % spec roof | peer % measured roof | peer % spec roof |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in peers["benchmarks"]:
        key = p["id"].rsplit("/", 1)[0]
        o = ours.get(key)
        if o is None or not o.get("time") or not p.get("time"):
            continue
        orf, prf = o.get("roofline") or {}, p.get("roofline") or {}
        rows.append(
            f"| {key} | {_us(o['time']['median_s'])} | {p['impl']} | {_us(p['time']['median_s'])} "
            f"| {p['time']['median_s'] / o['time']['median_s']:.2f} "
            f"| {_pct(orf.get('efficiency_measured'))} | {_pct(orf.get('efficiency_spec'))} "
            f"| {_pct(prf.get('efficiency_measured'))} | {_pct(prf.get('efficiency_spec'))} |"
        )
    return "\n".join(rows) + "\n"


def load(path):
    """A results file, refused with one sentence unless it is hotpath.results/1."""
    with open(path) as f:
        data = json.load(f)
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a hotpath results file (schema {data.get('schema')!r}, expected {SCHEMA})")
    return data
