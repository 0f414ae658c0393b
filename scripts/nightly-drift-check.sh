#!/usr/bin/env bash
# CI proof that the nightly job flags real slowdowns and not drift, on this machine, with
# real measurements (CPU backend, the quick and ceilings suites, a temporary directory):
#   1. two back-to-back nightly runs of one binary over the quick suite: the first makes the
#      baseline and the last good build; the second is judged A/B against it (the same
#      binary) and compared with the baseline using the history's run-to-run band: both
#      exit 0;
#   2. `hotpath compare` of the two runs with that history (the suite runs and the last
#      good build's A/B rounds): exit 0;
#   3. a new build with a planted 10 % slowdown of one kernel (HOTPATH_FAULT=slower10:ID,
#      set by a wrapper for that build's own runs only), over the ceilings suite: the
#      nightly job exits 1 and names that kernel as the one regression.
# The default planted kernel is peak_mma, the steadiest (±0.5 % from run to run), so that the
# planted check tests the job's logic; night 2 tests it against the noise of every kernel of
# the quick suite. Any other ceiling's id substring (no commas) may be given.
# Short measurements (--time-limit 1 --min-time 0.2) and 3 rounds per benchmark. On the 2-core
# CI VM every cold benchmark also spends about 2 s writing its rotation sets for the first
# time (the host backs the VM's memory lazily), so one A/B night of the quick suite (90
# runs) takes about 7 minutes: the check runs one such night, and the planted night over the
# 5 ceilings; about 11 minutes in all.
#
#   scripts/nightly-drift-check.sh [KERNEL-ID-SUBSTRING without commas]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${HOTPATH:-}" ]; then
  (cd "$repo" && cargo build --release --quiet)
fi
hotpath="${HOTPATH:-$repo/target/release/hotpath}"
planted="${1:-peak_mma/}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
short=(-- --time-limit 1 --min-time 0.2 --warmup 0.05)
nightly=(bash "$repo/scripts/nightly.sh" --dir "$tmp" --backend cpu --rounds 3)

fail() {
  echo "nightly-drift-check: FAILED: $*" >&2
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

start=$SECONDS
expect 0 "${nightly[@]}" --suite quick --hotpath "$hotpath" --update-baseline "${short[@]}"
[ -x "$tmp/builds/cpu-generic/last-good/hotpath" ] || fail "the first night kept no last good build"
expect 0 "${nightly[@]}" --suite quick --hotpath "$hotpath" "${short[@]}"
grep -q "A/B against the last good build" "$tmp/stderr.txt" || fail "night 2 was not judged A/B"
grep -q "^0 regression(s)" "$tmp/stdout.txt" || { cat "$tmp/stdout.txt" >&2; fail "night 2: the A/B table lists a regression"; }
[ "$(ls "$tmp/ab"/*.json | wc -l)" = 1 ] || fail "expected 1 A/B judgement"

first="$(ls "$tmp/history"/*.json | head -n 1)"
second="$(ls "$tmp/history"/*.json | tail -n 1)"
expect 0 "$hotpath" compare "$first" "$second" --history "$tmp/history" --history "$tmp/runs"

# The new build: the same binary, made 10 % slower in one kernel for its own runs only (the
# `hotpath ab` process and the last good build's runs see no fault).
# Like \`hotpath ab\` does with every build, the wrapper runs a fresh copy of the binary each
# time, so the page cache's placement of one file's code cannot bias the new build.
cat >"$tmp/new-build" <<SH
#!/usr/bin/env bash
if [ "\${1:-}" = run ]; then
  export HOTPATH_FAULT="slower10:$planted"
fi
copy="\$(mktemp "$tmp/new-build-copy.XXXXXX")"
cp "$hotpath" "\$copy" && chmod 0755 "\$copy" || exit 2
"\$copy" "\$@"
rc=\$?
rm -f "\$copy"
exit \$rc
SH
chmod +x "$tmp/new-build"
expect 1 "${nightly[@]}" --suite ceilings --hotpath "$tmp/new-build" "${short[@]}"
grep -q "REGRESSION against the last good build" "$tmp/stderr.txt" || fail "no A/B regression message"
ab="$(ls "$tmp/ab"/*.json | tail -n 1)"
python3 - "$ab" "$planted" <<'PY' || fail "the planted kernel is not the one regression"
import json, sys
r = json.load(open(sys.argv[1]))
regs = r["regressions"]
assert len(regs) == 1 and sys.argv[2] in regs[0], regs
row = next(x for x in r["rows"] if x["id"] == regs[0])
print(f"nightly-drift-check: planted 10 % slowdown flagged: {regs[0]} "
      f"(rounds {[round(x['ratio'], 3) for x in row['first']['rounds']]}, "
      f"again {[round(x['ratio'], 3) for x in row['again']['rounds']]})")
PY
echo "nightly-drift-check: ok in $((SECONDS - start)) s (2 back-to-back nights of one binary over the quick suite: no regression, A/B and against the baseline; compare with the history: none; a planted 10 % slowdown of $planted over the ceilings: flagged, exit 1)"
