#!/usr/bin/env bash
# A new node, checked in one go: for a user with a new GPU node, and for us on a lent GPU.
#
#   scripts/gpu-check.sh OUTDIR [--backend cuda|rocm|cpu] [--suite full|quick|...]
#                        [--time-limit SECONDS] [--hotpath BIN]
#
# Stages, in order, each timed, everything written under OUTDIR (a new or empty directory):
#   devices    `hotpath devices` (devices.txt, devices.json); picks the backend: the first of
#              cuda and rocm with a device, else cpu (--backend overrides);
#   kernels    `hotpath kernels compile --target <the device's arch>` (kernels.txt): every
#              kernel compiles for this GPU, with registers and spills; skipped on a CPU;
#   run        `hotpath run --suite full` (run.json, run.txt), capped at --time-limit seconds
#              per benchmark (default 2: the 101 GPU benchmarks of the full suite end within
#              6 minutes on an H200);
#   validate   `hotpath validate --level quick` (validate.json, validate.txt);
#   peers      scripts/peers/torch_peers.py on run.json (peers.json, peers-table.md): torch and
#              FlashInfer at the same benchmark ids; skipped, with one line saying why, on a
#              CPU or where torch does not import;
#   report     `hotpath report` over run.json and peers.json (report/report.md, report.html).
# stages.tsv holds each stage's name, seconds, outcome (ok, failed, skipped) and detail.
# Exit status: 0 when no stage failed, 1 when one did (a later stage still runs when it has
# what it needs), 2 for bad arguments. CI runs it on the CPU backend.
# docs/gpu-check.md says more.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "gpu-check: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "give the output directory: scripts/gpu-check.sh OUTDIR [--backend B] [--suite S] [--time-limit S] [--hotpath BIN]"
out="$1"; shift
backend=""; suite="full"; time_limit="2"; hotpath="${HOTPATH:-$repo/target/release/hotpath}"
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "$1 needs a value"
  case "$1" in
    --backend) backend="$2" ;;
    --suite) suite="$2" ;;
    --time-limit) time_limit="$2" ;;
    --hotpath) hotpath="$2" ;;
    *) die "unknown option '$1'; accepted: --backend, --suite, --time-limit, --hotpath" ;;
  esac
  shift 2
done
case "$backend" in ""|cuda|rocm|cpu) ;; *) die "--backend '$backend' is not one of cuda, rocm, cpu" ;; esac
case "$time_limit" in ''|*[!0-9.]*|*.*.*) die "--time-limit '$time_limit' is not a number of seconds" ;; esac
[ -x "$hotpath" ] || die "$hotpath is not an executable hotpath; build it (cargo build --release) or give --hotpath"
# Never through a link we did not make, never over earlier results.
[ -L "$out" ] && die "$out is a symbolic link; give a real directory"
if [ -e "$out" ]; then
  [ -d "$out" ] || die "$out exists and is not a directory"
  [ -z "$(ls -A "$out")" ] || die "$out is not empty; give a new or empty directory, so no earlier result is mixed in"
else
  mkdir -p "$out" || die "cannot create $out"
fi

printf 'stage\tseconds\toutcome\tdetail\n' > "$out/stages.tsv"
failed=0
# stage NAME DETAIL COMMAND...: runs the command, records how long it took and how it ended.
stage() {
  local name="$1" detail="$2"; shift 2
  local t0=$SECONDS rc=0
  echo "== $name" >&2
  "$@" || rc=$?
  local outcome=ok
  [ "$rc" = 0 ] || { outcome="failed (exit $rc)"; failed=1; }
  printf '%s\t%s\t%s\t%s\n' "$name" "$((SECONDS - t0))" "$outcome" "$detail" >> "$out/stages.tsv"
  echo "gpu-check: $name: $outcome in $((SECONDS - t0)) s" >&2
  return 0
}
skipped() {
  printf '%s\t0\tskipped\t%s\n' "$1" "$2" >> "$out/stages.tsv"
  echo "gpu-check: $1: skipped: $2" >&2
}

devices() {
  "$hotpath" devices > "$out/devices.txt" 2>&1 && "$hotpath" devices --format json > "$out/devices.json"
}
stage devices "hotpath devices" devices
cat "$out/devices.txt" >&2
# The backend and the first device's arch, from devices.json.
read -r picked arch < <(python3 - "$out/devices.json" "$backend" <<'PY' 2>/dev/null
import json, sys
found = {b["backend"]: b for b in json.load(open(sys.argv[1]))}
want = sys.argv[2]
order = [want] if want else ["cuda", "rocm", "cpu"]
for name in order:
    b = found.get(name)
    if b and b.get("available") and b.get("devices"):
        print(name, b["devices"][0]["arch"])
        break
else:
    print("none none")
PY
)
[ -n "${picked:-}" ] && [ "$picked" != none ] || { echo "gpu-check: no device of backend '${backend:-any}' was found (devices.txt says why)" >&2; exit 1; }
echo "gpu-check: backend $picked, arch $arch" >&2

if [ "$picked" = cpu ]; then
  skipped kernels "the cpu backend runs no compiled GPU kernel"
else
  stage kernels "hotpath kernels compile --target $arch" \
    bash -c '"$1" kernels compile --target "$2" > "$3/kernels.txt" 2>&1' _ "$hotpath" "$arch" "$out"
fi

stage run "hotpath run --backend $picked --suite $suite --time-limit $time_limit" \
  bash -c '"$1" run --backend "$2" --suite "$3" --time-limit "$4" --out "$5/run.json" > "$5/run.txt"' \
  _ "$hotpath" "$picked" "$suite" "$time_limit" "$out"

stage validate "hotpath validate --backend $picked --level quick" \
  bash -c '"$1" validate --backend "$2" --level quick --out "$3/validate.json" > "$3/validate.txt"' \
  _ "$hotpath" "$picked" "$out"

reports=("$out/run.json")
if [ "$picked" != cuda ]; then
  skipped peers "the torch peers run on a CUDA GPU; this check ran the $picked backend"
elif ! python3 -c "import torch" 2>/dev/null; then
  skipped peers "torch does not import here (pip install torch to compare with it)"
elif [ ! -f "$out/run.json" ]; then
  skipped peers "the run wrote no run.json to take the benchmark ids from"
else
  stage peers "scripts/peers/torch_peers.py --ours run.json" \
    python3 "$repo/scripts/peers/torch_peers.py" --ours "$out/run.json" --out "$out/peers.json" \
    --table "$out/peers-table.md"
  [ -f "$out/peers.json" ] && reports+=("$out/peers.json")
fi

if [ -f "$out/run.json" ]; then
  stage report "hotpath report ${reports[*]##*/}" "$hotpath" report "${reports[@]}" --out "$out/report"
else
  skipped report "the run wrote no run.json"
fi

echo "gpu-check: stages (seconds, outcome):" >&2
column -t -s $'\t' "$out/stages.tsv" >&2 2>/dev/null || cat "$out/stages.tsv" >&2
exit "$failed"
