#!/usr/bin/env bash
# CI check of scripts/nightly.sh end to end on the CPU backend, in a temporary directory
# (never in the committed results/), on the short `ceilings` suite (about 3 s a run):
#   1. first run with --update-baseline: creates the baseline; must exit 0;
#   2. second run compared with it at --threshold 50: must exit 0. A generous threshold on
#      purpose: on a shared VM the DRAM bandwidth drifts by up to ±20 % between runs, and the
#      within-run intervals of `hotpath compare` cannot see drift between runs;
#   3. third run compared with a planted baseline, the first run made 3× faster (every
#      sample ÷ 3): a +200 % change that must be flagged, exit 1;
# then checks that the history files, the comparisons and the trend page are there; and,
# with faults injected, that a wrong result exits 1 and never becomes the baseline, and a
# crashing benchmark exits 2 while the rest of the run is kept.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${HOTPATH:-}" ]; then
  (cd "$repo" && cargo build --release --quiet)
fi
hotpath="${HOTPATH:-$repo/target/release/hotpath}"
command -v python3 >/dev/null || { echo "nightly-selftest: python3 is needed to plant the baseline" >&2; exit 2; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
nightly=(bash "$repo/scripts/nightly.sh" --hotpath "$hotpath" --dir "$tmp" --backend cpu --suite ceilings --threshold 50)
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
expect 0 "${nightly[@]}" "${short[@]}"

first="$(ls "$tmp/history"/*.json | head -n 1)"
python3 - "$first" "$tmp/baselines/planted.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
for b in f["benchmarks"]:
    b["samples_s"] = [s / 3 for s in b["samples_s"]]
    if b.get("time"):
        b["time"] = {k: v / 3 for k, v in b["time"].items()}
json.dump(f, open(sys.argv[2], "w"), indent=2)
PY
expect 1 "${nightly[@]}" --baseline-name planted "${short[@]}"
grep -q "REGRESSION against $tmp/baselines/planted.json" "$tmp/stderr.txt" || fail "no regression message"

runs="$(ls "$tmp/history"/*.json | wc -l)"
[ "$runs" = 3 ] || fail "expected 3 runs in the history, found $runs"
[ "$(ls "$tmp/compare"/*.md | wc -l)" = 2 ] || fail "expected 2 comparisons"
last_cmp="$(ls "$tmp/compare"/*.md | tail -n 1)"
grep -q "| REGRESSION |" "$last_cmp" || fail "the planted comparison lists no regression"
grep -q "^3 runs\." "$tmp/trend/history.md" || fail "the trend page does not cover 3 runs"
[ "$(grep -o '<svg' "$tmp/trend/history.html" | wc -l)" = 5 ] || fail "expected 5 trend charts"

# Faults (HOTPATH_FAULT, see crates/core/src/fault.rs), in a directory of their own:
# a wrong result fails the run's correctness check: exit 1, and --update-baseline refuses it;
faults=(bash "$repo/scripts/nightly.sh" --hotpath "$hotpath" --dir "$tmp/faults" --backend cpu --suite ceilings)
expect 1 env HOTPATH_FAULT=wrong:triad "${faults[@]}" --update-baseline "${short[@]}"
[ ! -e "$tmp/faults/baselines/cpu-generic.json" ] || fail "a run with a failed check became the baseline"
# a crashing benchmark: exit 2, and what the run measured is still kept and charted.
expect 2 env HOTPATH_FAULT=crash:read/ "${faults[@]}" "${short[@]}"
[ "$(ls "$tmp/faults/history"/*.json | wc -l)" = 2 ] || fail "the runs with faults were not kept"
grep -q "^2 runs\." "$tmp/faults/trend/history.md" || fail "no trend page after a crash"
echo "nightly-selftest: ok (3 runs, baseline, 2 comparisons, trend page with 5 charts; a wrong result exits 1 and is not made the baseline; a crash exits 2 and keeps the rest)"
