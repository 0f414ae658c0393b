#!/usr/bin/env bash
# CI check of the two installs README.md names, each proved by running what it installed:
#   1. `cargo install --locked --path .` into a temporary root (it reuses target/release, so
#      after the release build it only links);
#   2. the wheel: `maturin build` (pyproject.toml: bin bindings, the dist profile that
#      scripts/check-dist-size.sh just built, audited for manylinux_2_34), installed with
#      pip into a fresh virtual environment with no index, which must put `hotpath` on that
#      environment's PATH.
# Each installed binary runs `hotpath devices` and a one-benchmark CPU run whose result must be
# a measured, correct copy. maturin itself is installed once into ~/.cache/hotpath/maturin-venv.
# Everything else lives in a temporary directory removed on exit.
#   scripts/check-install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
tmp=$(mktemp -d /tmp/hotpath-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Runs the installed binary $1 (found as $2 on PATH when given) and checks what it measured.
prove() {
  local bin="$1" what="$2"
  "$bin" devices > "$tmp/devices.txt" 2>&1 || { echo "check-install: $what: hotpath devices failed:"; cat "$tmp/devices.txt"; exit 1; }
  grep -q "cpu" "$tmp/devices.txt" || { echo "check-install: $what: hotpath devices lists no CPU:"; cat "$tmp/devices.txt"; exit 1; }
  rm -f "$tmp/run.json"
  "$bin" run --backend cpu --op copy --shape elements=1M --dtype f32 --min-samples 5 \
    --min-time 0.05 --out "$tmp/run.json" > "$tmp/run.txt" 2>&1 \
    || { echo "check-install: $what: the one-benchmark run failed:"; cat "$tmp/run.txt"; exit 1; }
  python3 - "$tmp/run.json" "$what" <<'PY'
import json, sys
f, what = json.load(open(sys.argv[1])), sys.argv[2]
b = f["benchmarks"]
assert len(b) == 1 and b[0]["op"] == "copy", b
assert b[0]["status"] == "ok" and b[0]["correctness"]["pass"], b[0]
rate = b[0]["rates"]["bytes_per_s"]
assert rate > 0, b[0]
print(f"check-install: {what}: hotpath devices ok; copy of 1M f32 measured {rate / 1e9:.1f} GB/s, correct")
PY
}

echo "== cargo install --locked --path ."
CARGO_TARGET_DIR="$target" cargo install --locked --quiet --path . --root "$tmp/cargo-root"
prove "$tmp/cargo-root/bin/hotpath" "cargo install"

echo "== the wheel (maturin, bin bindings)"
maturin_venv="$HOME/.cache/hotpath/maturin-venv"
if [ ! -x "$maturin_venv/bin/maturin" ]; then
  python3 -m venv "$maturin_venv"
  "$maturin_venv/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.5,<2"
fi
CARGO_TARGET_DIR="$target" "$maturin_venv/bin/maturin" build --quiet --out "$tmp/wheels" 2>&1 | tail -n 3
wheels=("$tmp"/wheels/hotpath-*.whl)
[ "${#wheels[@]}" = 1 ] && [ -f "${wheels[0]}" ] || { echo "check-install: expected one wheel, got: ${wheels[*]}"; exit 1; }
wheel="${wheels[0]}"
case "$(basename "$wheel")" in
  *-py3-none-manylinux_2_34_x86_64.whl) ;;
  *) echo "check-install: $(basename "$wheel") is not tagged py3-none-manylinux_2_34_x86_64"; exit 1 ;;
esac
echo "check-install: $(basename "$wheel"): $(stat -c %s "$wheel") bytes"
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$wheel"
# On PATH after `pip install`: the environment's bin directory, as activating it would set.
found=$(PATH="$tmp/venv/bin:/usr/bin:/bin" command -v hotpath)
[ "$found" = "$tmp/venv/bin/hotpath" ] || { echo "check-install: hotpath on the venv's PATH is '$found'"; exit 1; }
prove "$found" "pip install of the wheel"
echo "check-install: both installs run"
