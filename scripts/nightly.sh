#!/usr/bin/env bash
# Nightly regression job: run a suite, keep the results in the history, compare them with
# the baseline of this hardware, regenerate the trend page, and fail on a regression.
#
#   scripts/nightly.sh [--suite NAME] [--dir DIR] [--threshold PCT] [--backend B]
#                      [--baseline-name NAME] [--update-baseline] [--hotpath BIN]
#                      [-- extra `hotpath run` arguments]
#
# Writes, under DIR (default: results/ of this repository, or $HOTPATH_NIGHTLY_DIR):
#   history/<UTC time>_<host>_<git revision>.json   the run (hotpath.results/1)
#   compare/<same name>.md                           the comparison with the baseline
#   trend/history.md, trend/history.html             median and 95 % interval over time
#   baselines/<hardware id>.json                     only with --update-baseline
#
# The baseline changes only with --update-baseline: then this run becomes the baseline
# (after it is compared with the old one, for the record), unless the run failed a check or
# a benchmark did not run.
#
# Exit codes: 0 no regression; 1 a significant regression against the baseline, or a
# correctness check failed in the run; 2 bad arguments, an error, or a benchmark that could
# not run (crash, hang: what the run did measure is still compared and kept).
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

cmp_rc=0
if [ -f "$baseline" ]; then
  report="$dir/compare/$name.md"
  "$hotpath" compare "$baseline" "$out" --threshold "$threshold" --format md >"$report"
  cmp_rc=$?
  if [ "$cmp_rc" -ge 2 ]; then
    die "hotpath compare failed (exit $cmp_rc) on $baseline and $out"
  fi
  "$hotpath" compare "$baseline" "$out" --threshold "$threshold" --format table
  echo "nightly: comparison written to $report" >&2
elif [ "$update_baseline" = 1 ]; then
  echo "nightly: no baseline at $baseline yet; this run becomes it" >&2
else
  echo "nightly: no baseline at $baseline yet; run with --update-baseline to make this run the baseline" >&2
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
  echo "nightly: REGRESSION against $baseline (exit 1)" >&2
  exit 1
fi
exit "$run_rc"
