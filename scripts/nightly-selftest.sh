#!/usr/bin/env bash
# CI check of scripts/nightly.sh end to end on the CPU backend, in a temporary directory
# (never in the committed results/), on the short `ceilings` suite (about 3 s a run):
#   1. first run with --update-baseline: creates the baseline; must exit 0;
#   2. second run, judged A/B against the first run's build (kept as the last good build)
#      and compared with the baseline at --threshold 150: must exit 0. A generous threshold on
#      purpose: on a quiet VM the DRAM bandwidth drifts by up to ±20 % between runs, with a
#      memory-bound process beside them copy runs measured 2.5× apart (CI saw a MAD of 27 %
#      over four copy runs), and
#      the within-run intervals of `hotpath compare` cannot see drift between runs;
#   3. third run (--no-ab: judged against the baseline only) compared with a planted
#      baseline, the first run made 10× faster (every sample ÷ 10): a +900 % change, still
#      above 150 % if the first run was 2.5× slowed, that must be flagged, measured again,
#      and still flagged: exit 1;
# then checks that the history files, the comparisons and the trend page are there; with
# faults injected, that a wrong result exits 1 and never becomes the baseline, and a
# crashing benchmark exits 2 while the rest of the run is kept; and, without timing
# anything, the default 5 % threshold on synthetic results files (30 samples a side with a
# fixed ±1 % spread): a planted 10 % slowdown is a regression, a 2 % one is unchanged, a
# 10 % speed-up an improvement, through `hotpath compare` and through nightly.sh itself
# (its `hotpath run` replaced by a stub that writes the planted file, with no extra run
# arguments, which is the empty-array case older bash refused).
#
# NIGHTLY_BASH=/path/to/bash runs nightly.sh under another bash (e.g. 3.2 or 4.3).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bash_bin="${NIGHTLY_BASH:-bash}"
if [ -z "${HOTPATH:-}" ]; then
  (cd "$repo" && cargo build --release --quiet)
fi
hotpath="${HOTPATH:-$repo/target/release/hotpath}"
command -v python3 >/dev/null || { echo "nightly-selftest: python3 is needed to plant the baseline" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
nightly=("$bash_bin" "$repo/scripts/nightly.sh" --hotpath "$hotpath" --dir "$tmp" --backend cpu --suite ceilings --threshold 150)
short=(-- --min-time 0.1 --time-limit 0.5 --warmup 0.02)

fail() {
  echo "nightly-selftest: FAILED: $*" >&2
  exit 1
}

expect() {
  local want="$1"; shift
  local rc=0
  "$@" >"$tmp/stdout.txt" 2>"$tmp/stderr.txt" || rc=$?
  if [ "$rc" != "$want" ]; then
    cat "$tmp/stdout.txt" "$tmp/stderr.txt" >&2
    fail "expected exit $want, got $rc from: $*"
  fi
}

expect 0 "${nightly[@]}" --update-baseline "${short[@]}"
[ -f "$tmp/baselines/cpu-generic.json" ] || fail "no baseline after --update-baseline"
[ -x "$tmp/builds/cpu-generic/last-good/hotpath" ] || fail "no last good build after a passing night"
expect 0 "${nightly[@]}" "${short[@]}"
grep -q "A/B against the last good build" "$tmp/stderr.txt" || fail "the second night was not judged A/B"
[ -f "$(ls "$tmp/ab"/*.json | head -n 1)" ] || fail "no A/B judgement kept"

first="$(ls "$tmp/history"/*.json | head -n 1)"
python3 - "$first" "$tmp/baselines/planted.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
for b in f["benchmarks"]:
    b["samples_s"] = [s / 10 for s in b["samples_s"]]
    if b.get("time"):
        b["time"] = {k: v / 10 for k, v in b["time"].items()}
json.dump(f, open(sys.argv[2], "w"), indent=2)
PY
expect 1 "${nightly[@]}" --no-ab --baseline-name planted "${short[@]}"
grep -q "REGRESSION against $tmp/baselines/planted.json (reproduced" "$tmp/stderr.txt" || fail "no regression message"
grep -q "measuring the suite again before judging" "$tmp/stderr.txt" || fail "the regression was not measured again"

runs="$(ls "$tmp/history"/*.json | wc -l)"
[ "$runs" = 3 ] || fail "expected 3 runs in the history, found $runs"
[ "$(ls "$tmp/compare"/*.md | grep -vc -- '-ab\.md$')" = 2 ] || fail "expected 2 comparisons with the baseline"
last_cmp="$(ls "$tmp/compare"/*.md | grep -v -- '-ab\.md$' | tail -n 1)"
grep -q "| REGRESSION |" "$last_cmp" || fail "the planted comparison lists no regression"
grep -q "^3 runs\." "$tmp/trend/history.md" || fail "the trend page does not cover 3 runs"
[ "$(grep -o '<svg' "$tmp/trend/history.html" | wc -l)" = 5 ] || fail "expected 5 trend charts"

# Faults (HOTPATH_FAULT, see crates/core/src/fault.rs), in a directory of their own:
# a wrong result fails the run's correctness check: exit 1, and --update-baseline refuses it;
faults=("$bash_bin" "$repo/scripts/nightly.sh" --hotpath "$hotpath" --dir "$tmp/faults" --backend cpu --suite ceilings)
expect 1 env HOTPATH_FAULT=wrong:triad "${faults[@]}" --update-baseline "${short[@]}"
[ ! -e "$tmp/faults/baselines/cpu-generic.json" ] || fail "a run with a failed check became the baseline"
# a crashing benchmark: exit 2, and what the run measured is still kept and charted.
expect 2 env HOTPATH_FAULT=crash:read/ "${faults[@]}" "${short[@]}"
[ "$(ls "$tmp/faults/history"/*.json | wc -l)" = 2 ] || fail "the runs with faults were not kept"
grep -q "^2 runs\." "$tmp/faults/trend/history.md" || fail "no trend page after a crash"

# The default threshold (5 %), deterministically: synthetic samples around the medians of
# the first run, no timing. Base ×(1 ± 1 %); new ×1.10, ×1.02 and ×0.90 with another ±1 %
# spread. With 30 samples a side the Hodges-Lehmann intervals are about ±0.5 % wide, so
# +10 % is a regression, +2 % is unchanged (inside ±5 %) and −10 % an improvement.
thr="$tmp/threshold"
mkdir -p "$thr/baselines"
count="$(python3 - "$first" "$thr" <<'PY'
import json, statistics, sys
src, out = sys.argv[1], sys.argv[2]

def spread(i, a, b):
    # A fixed permutation of 61 levels across [-1, +1].
    return ((i * a + b) % 61) / 30.0 - 1.0

def plant(factor, a, b, created):
    f = json.load(open(src))
    f["created"] = created
    for bench in f["benchmarks"]:
        m = bench["time"]["median_s"]
        s = [m * factor * (1 + 0.01 * spread(i, a, b)) for i in range(30)]
        q = sorted(s)
        med = statistics.median(s)
        bench["samples_s"] = s
        bench["time"] = {"median_s": med, "min_s": q[0], "mean_s": statistics.mean(s),
                         "stdev_s": statistics.stdev(s), "p10_s": q[3], "p90_s": q[26],
                         "mad_s": statistics.median([abs(v - med) for v in s])}
    return f

runs = [("base", 1.00, 37, 0, "2026-01-01T00:00:00Z"),
        ("slow10", 1.10, 23, 11, "2026-01-02T00:00:00Z"),
        ("slow2", 1.02, 23, 11, "2026-01-03T00:00:00Z"),
        ("fast10", 0.90, 23, 11, "2026-01-04T00:00:00Z")]
for name, factor, a, b, created in runs:
    json.dump(plant(factor, a, b, created), open(f"{out}/{name}.json", "w"), indent=2)
print(len(json.load(open(src))["benchmarks"]))
PY
)"
expect 1 "$hotpath" compare "$thr/base.json" "$thr/slow10.json"
grep -q "^$count regressions, 0 improvements, 0 noisy, 0 unchanged (threshold ±5 %)" "$tmp/stdout.txt" \
  || { cat "$tmp/stdout.txt" >&2; fail "a planted 10 % slowdown is not a regression at the default threshold"; }
expect 0 "$hotpath" compare "$thr/base.json" "$thr/slow2.json"
grep -q "^0 regressions, 0 improvements, 0 noisy, $count unchanged (threshold ±5 %)" "$tmp/stdout.txt" \
  || { cat "$tmp/stdout.txt" >&2; fail "a planted 2 % slowdown is not unchanged at the default threshold"; }
expect 0 "$hotpath" compare "$thr/base.json" "$thr/fast10.json"
grep -q "^0 regressions, $count improvements, 0 noisy, 0 unchanged (threshold ±5 %)" "$tmp/stdout.txt" \
  || { cat "$tmp/stdout.txt" >&2; fail "a planted 10 % speed-up is not an improvement at the default threshold"; }

# nightly.sh with its defaults (threshold 5 %, no arguments after --): a stub stands in for
# `hotpath run`, records its arguments and writes the planted file; the rest is the real
# hotpath (compare, report).
cat >"$thr/hotpath-stub" <<'SH'
#!/usr/bin/env bash
if [ "${1:-}" = run ]; then
  printf '%s\n' "$@" >"$STUB_ARGS"
  while [ $# -gt 0 ]; do
    [ "$1" = --out ] && cp "$PLANTED_RUN" "$2"
    shift
  done
  exit 0
fi
exec "$REAL_HOTPATH" "$@"
SH
chmod +x "$thr/hotpath-stub"
cp "$thr/base.json" "$thr/baselines/cpu-generic.json"
defaults=("$bash_bin" "$repo/scripts/nightly.sh" --hotpath "$thr/hotpath-stub" --dir "$thr" --backend cpu --suite ceilings)
stub=(env REAL_HOTPATH="$hotpath" STUB_ARGS="$thr/run-args.txt")
expect 1 "${stub[@]}" PLANTED_RUN="$thr/slow10.json" "${defaults[@]}"
# It got as far as `hotpath run`, with exactly `run --backend cpu --suite ceilings --out
# FILE`: no empty argument from the empty extra-argument array.
[ -f "$thr/run-args.txt" ] || { cat "$tmp/stderr.txt" >&2; fail "nightly.sh with no extra run arguments stopped before hotpath run"; }
[ "$(wc -l <"$thr/run-args.txt")" = 7 ] || { cat "$thr/run-args.txt" >&2; fail "nightly.sh passed extra arguments to hotpath run"; }
grep -q "REGRESSION against $thr/baselines/cpu-generic.json (reproduced" "$tmp/stderr.txt" || { cat "$tmp/stderr.txt" >&2; fail "nightly.sh at its default threshold missed a planted 10 % slowdown"; }
grep -q "threshold ±5 %" "$(ls "$thr/compare"/*.md | tail -n 1)" || fail "nightly.sh did not compare at the default 5 %"
expect 0 "${stub[@]}" PLANTED_RUN="$thr/slow2.json" "${defaults[@]}"
grep -q "^0 regressions, 0 improvements, 0 noisy, $count unchanged" "$tmp/stdout.txt" || fail "nightly.sh at its default threshold flagged a 2 % change"
[ "$(ls "$thr/history"/*.json | wc -l)" = 2 ] || fail "the planted nightly runs were not kept"

echo "nightly-selftest: ok (3 runs, baseline, 2 comparisons, trend page with 5 charts; a wrong result exits 1 and is not made the baseline; a crash exits 2 and keeps the rest; at the default 5 % threshold, planted +10 % / +2 % / -10 % changes are regression / unchanged / improvement, also through nightly.sh)"
