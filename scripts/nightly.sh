#!/usr/bin/env bash
# Nightly regression job: run a suite, keep the results in the history, judge the new build
# against the last good build measured alternately in the same window, compare the run with
# the baseline of this hardware, regenerate the trend page, and fail on a regression that
# reproduces.
#
#   scripts/nightly.sh [--suite NAME] [--dir DIR] [--threshold PCT] [--backend B]
#                      [--baseline-name NAME] [--update-baseline] [--hotpath BIN]
#                      [--against BIN | --no-ab] [--rounds N]
#                      [-- extra `hotpath run` arguments]
#
# Writes, under DIR (default: results/ of this repository, or $HOTPATH_NIGHTLY_DIR):
#   history/<UTC time>_<host>_<git revision>.json   the run (hotpath.results/1)
#   ab/<same name>.json, compare/<same name>-ab.md   the A/B judgement (hotpath.ab/1)
#   compare/<same name>.md                           the comparison with the baseline
#   runs/<UTC time>-*.json                           the last good build's A/B rounds
#   trend/history.md, trend/history.html             median and 95 % interval over time
#   baselines/<hardware id>.json                     only with --update-baseline
#   builds/<hardware id>/last-good/hotpath           the last build whose night passed
#
# Regressions are judged two ways, both built to ignore drift between runs:
# - A/B (`hotpath ab`): the new build and the last good build (--against BIN, else
#   builds/<hardware id>/last-good/hotpath) run each benchmark alternately, --rounds rounds
#   (default 3; orders AB, BA, AB), so drift hits both; a regression must show in every
#   round and again when measured a second time. When it runs, its verdict decides.
# - Against the baseline (`hotpath compare --history history/ --history runs/`): a regression
#   must beat the threshold, its interval and the run-to-run band of the history (the suite
#   runs and the last good build's A/B rounds); a flagged one is
#   measured again (the suite once more) and counts only if it reproduces (`--remeasured`).
#   It decides when no A/B runs (the first night, or --no-ab); otherwise its regressions are
#   printed as slow drift against the baseline, for a person to look at, without failing.
#
# The baseline changes only with --update-baseline: then this run becomes the baseline
# (after it is compared with the old one, for the record), unless the run failed a check or
# a benchmark did not run. The last good build is replaced by the new build after every
# night that exits 0.
#
# Exit codes: 0 no regression; 1 a regression that reproduced, or a correctness check failed
# in the run; 2 bad arguments, an error, or a benchmark that could not run (crash, hang: what
# the run did measure is still compared and kept).
set -uo pipefail

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

die() {
  echo "nightly: error: $*" >&2
  exit 2
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
caller="$(pwd)"
suite="quick"
dir="${HOTPATH_NIGHTLY_DIR:-}"
threshold="5"
backend="auto"
baseline_name=""
update_baseline=0
hotpath="${HOTPATH:-}"
against=""
no_ab=0
rounds="3"
run_extra=()

while [ $# -gt 0 ]; do
  case "$1" in
    --suite) [ $# -ge 2 ] || die "--suite needs a suite name (quick, decode, prefill, ceilings, full)"; suite="$2"; shift 2 ;;
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; dir="$2"; shift 2 ;;
    --threshold) [ $# -ge 2 ] || die "--threshold needs a percentage such as 5"; threshold="$2"; shift 2 ;;
    --backend) [ $# -ge 2 ] || die "--backend needs auto, cuda, rocm or cpu"; backend="$2"; shift 2 ;;
    --baseline-name) [ $# -ge 2 ] || die "--baseline-name needs a name"; baseline_name="$2"; shift 2 ;;
    --update-baseline) update_baseline=1; shift ;;
    --hotpath) [ $# -ge 2 ] || die "--hotpath needs the path of a hotpath binary"; hotpath="$2"; shift 2 ;;
    --against) [ $# -ge 2 ] || die "--against needs the path of the last good hotpath binary"; against="$2"; shift 2 ;;
    --no-ab) no_ab=1; shift ;;
    --rounds) [ $# -ge 2 ] || die "--rounds needs a number of rounds from 2 to 20"; rounds="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; run_extra=("$@"); break ;;
    *) die "unknown argument '$1'; see scripts/nightly.sh --help" ;;
  esac
done

case "$baseline_name" in
  */*|.*) die "--baseline-name '$baseline_name' must be a plain file name without '/' or a leading '.'" ;;
esac

# Paths as the caller gave them, relative to where the job runs: the repository root, so
# that with the default DIR the files name each other as results/...
case "$dir" in
  "") dir="results" ;;
  /*) ;;
  *) dir="$caller/$dir" ;;
esac
case "$hotpath" in
  ""|/*) ;;
  *) hotpath="$caller/$hotpath" ;;
esac
case "$against" in
  ""|/*) ;;
  *) against="$caller/$against" ;;
esac
case "$rounds" in
  ""|*[!0-9]*) die "--rounds '$rounds' is not a number; give 2 to 20" ;;
esac
[ "$rounds" -ge 2 ] && [ "$rounds" -le 20 ] || die "--rounds $rounds is out of range; give 2 to 20"
[ -z "$against" ] || [ "$no_ab" = 0 ] || die "--against and --no-ab contradict each other; give one"
cd "$repo" || die "cannot enter the repository at $repo"

if [ -z "$hotpath" ]; then
  (cd "$repo" && cargo build --release --quiet) || die "cargo build --release failed"
  hotpath="$repo/target/release/hotpath"
fi
[ -x "$hotpath" ] || die "hotpath binary '$hotpath' is not an executable file"

mkdir -p "$dir/history" "$dir/baselines" "$dir/compare" "$dir/trend" \
  || die "cannot create the directories under '$dir'"

# <UTC time>_<host>_<git revision>: sorts by time; names the machine and the code. The run
# writes a hidden file first (the trend page skips it); once it is done, the file is renamed
# with the revision of the hotpath build that made it (tool.git in the file).
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
host="$(uname -n | cut -d. -f1 | tr -c 'A-Za-z0-9_-' '_' | sed 's/_*$//')"
running="$dir/history/.running-$stamp-$$.json"

echo "nightly: suite $suite on backend $backend" >&2
# ${a[@]+"${a[@]}"}: an empty array expands to nothing; a bare "${a[@]}" is an unbound
# variable under `set -u` in bash before 4.4 (macOS still ships 3.2).
"$hotpath" run --backend "$backend" --suite "$suite" --out "$running" ${run_extra[@]+"${run_extra[@]}"}
run_rc=$?
case "$run_rc" in
  0) ;;
  1) echo "nightly: a correctness check failed in this run (see the table above)" >&2 ;;
  *) [ -f "$running" ] || die "hotpath run exited with $run_rc and wrote no results file; nothing compared"
     echo "nightly: hotpath run exited with $run_rc (a benchmark could not run, or the run was stopped); comparing what it measured, then exiting 2" >&2 ;;
esac
[ -f "$running" ] || die "hotpath run wrote no results file"

rev="$(awk '/^  "tool": \{/ { t = 1 } t && /"git":/ { sub(/.*"git": *"?/, ""); sub(/"?,?$/, ""); print; exit }' "$running")"
case "$rev" in ""|null) rev="nogit" ;; esac
rev="$(printf '%s' "$rev" | tr -c 'A-Za-z0-9_-' '_')"
name="${stamp}_${host:-host}_${rev}"
n=2
while [ -e "$dir/history/$name.json" ]; do
  name="${stamp}_${host:-host}_${rev}-$n"
  n=$((n + 1))
done
out="$dir/history/$name.json"
mv "$running" "$out" || die "cannot rename $running to $out"
echo "nightly: results kept as $out" >&2

# The hardware id of the run (hardware.id in the pretty-printed results file).
hw_id="$(awk '/^  "hardware": \{/ { h = 1 } h && /"id":/ { sub(/.*"id": *"/, ""); sub(/".*/, ""); print; exit }' "$out")"
[ -n "$hw_id" ] || die "cannot read the hardware id from $out"
baseline="$dir/baselines/${baseline_name:-$hw_id}.json"

# The A/B judgement against the last good build, when there is one.
last_good="$dir/builds/$hw_id/last-good/hotpath"
ab_rc=""
if [ "$no_ab" = 0 ]; then
  a_bin="${against:-$last_good}"
  if [ -n "$against" ] && [ ! -x "$against" ]; then
    die "--against '$against' is not an executable file"
  fi
  if [ -x "$a_bin" ] && [ ! -L "$a_bin" ]; then
    echo "nightly: A/B against the last good build $a_bin ($rounds rounds per benchmark)" >&2
    mkdir -p "$dir/ab" || die "cannot create $dir/ab"
    "$hotpath" ab --against "$a_bin" --new "$hotpath" --backend "$backend" --suite "$suite" --rounds "$rounds" \
      --threshold "$threshold" --out "$dir/ab/$name.json" --format md --keep-runs "$dir/runs" \
      ${run_extra[@]+-- "${run_extra[@]}"} >"$dir/compare/$name-ab.md"
    ab_rc=$?
    [ "$ab_rc" -le 1 ] || die "hotpath ab failed (exit $ab_rc); see the messages above"
    cat "$dir/compare/$name-ab.md"
    echo "nightly: A/B judgement written to $dir/compare/$name-ab.md" >&2
  else
    echo "nightly: no last good build at $a_bin yet (a night that passes makes one); judging against the baseline only" >&2
  fi
fi

cmp_rc=0
if [ -f "$baseline" ]; then
  report="$dir/compare/$name.md"
  hist=(--history "$dir/history")
  if ls "$dir/runs"/*.json >/dev/null 2>&1; then hist+=(--history "$dir/runs"); fi
  cmp=("$hotpath" compare "$baseline" "$out" --threshold "$threshold" "${hist[@]}")
  "${cmp[@]}" --format md >"$report"
  cmp_rc=$?
  if [ "$cmp_rc" -ge 2 ]; then
    die "hotpath compare failed (exit $cmp_rc) on $baseline and $out"
  fi
  if [ "$cmp_rc" = 1 ] && [ -z "$ab_rc" ]; then
    # Measured again before it counts: the suite once more, and a regression stands only
    # where the second measurement shows it too.
    echo "nightly: a regression against the baseline; measuring the suite again before judging" >&2
    again="$dir/history/.remeasure-$stamp-$$.json"
    "$hotpath" run --backend "$backend" --suite "$suite" --out "$again" ${run_extra[@]+"${run_extra[@]}"} >/dev/null
    [ -f "$again" ] || die "the re-measurement wrote no results file"
    "${cmp[@]}" --remeasured "$again" --format md >"$report"
    cmp_rc=$?
    [ "$cmp_rc" -le 1 ] || { rm -f "$again"; die "hotpath compare failed (exit $cmp_rc) on the re-measurement"; }
    "${cmp[@]}" --remeasured "$again" --format table
    rm -f "$again"
  else
    "${cmp[@]}" --format table
  fi
  echo "nightly: comparison written to $report" >&2
  if [ -n "$ab_rc" ] && [ "$cmp_rc" = 1 ]; then
    echo "nightly: slower than the baseline $baseline beyond the run-to-run band (see $report); the A/B judgement against the last good build decides the exit code" >&2
    cmp_rc=0
  fi
elif [ "$update_baseline" = 1 ]; then
  echo "nightly: no baseline at $baseline yet; this run becomes it" >&2
else
  echo "nightly: no baseline at $baseline yet; run with --update-baseline to make this run the baseline" >&2
fi
if [ "${ab_rc:-0}" = 1 ]; then
  cmp_rc=1
fi

if [ "$update_baseline" = 1 ]; then
  if [ "$run_rc" != 0 ]; then
    echo "nightly: not updating the baseline: hotpath run exited with $run_rc (a check failed or a benchmark did not run)" >&2
  else
    cp "$out" "$baseline.tmp.$$" && mv "$baseline.tmp.$$" "$baseline" \
      || die "cannot write the baseline $baseline"
    echo "nightly: baseline updated on purpose: $baseline" >&2
    # Accepting the new numbers is the point of --update-baseline.
    cmp_rc=0
  fi
fi

"$hotpath" report --history "$dir/history" --out "$dir/trend" >/dev/null \
  || die "hotpath report --history failed"
echo "nightly: trend page $dir/trend/history.html" >&2

if [ "$run_rc" -ge 2 ]; then
  exit 2
fi
if [ "$cmp_rc" = 1 ]; then
  if [ "${ab_rc:-0}" = 1 ]; then
    # The ids in the pretty-printed "regressions" list of the A/B file.
    ids="$(awk '/^  "regressions": \[$/ { r = 1; next } r && /^  \]/ { exit } r { gsub(/^ *"|",?$/, ""); print "  " $0 }' "$dir/ab/$name.json")"
    echo "nightly: REGRESSION against the last good build (A/B, reproduced; exit 1):" >&2
    [ -z "$ids" ] || printf '%s\n' "$ids" >&2
  else
    echo "nightly: REGRESSION against $baseline (reproduced; exit 1)" >&2
  fi
  exit 1
fi
if [ "$run_rc" = 0 ]; then
  # This night passed: the new build is the last good one.
  mkdir -p "$dir/builds/$hw_id/last-good" || die "cannot create $dir/builds/$hw_id/last-good"
  tmp_bin="$dir/builds/$hw_id/last-good/.hotpath.tmp.$$"
  cp "$hotpath" "$tmp_bin" && chmod 0755 "$tmp_bin" && mv -f "$tmp_bin" "$last_good" \
    || die "cannot keep the new build as the last good one at $last_good"
  echo "nightly: the last good build is now $last_good" >&2
fi
exit "$run_rc"
