#!/usr/bin/env bash
# Installs what CI needs on a fresh Debian 12 machine with the Rust toolchain present.
# Idempotent: safe to run again.
#   - pkg-config and a C compiler for crates with build scripts;
#   - NVRTC and the CUDA headers from NVIDIA's PyPI wheels (no toolkit, no GPU), so every
#     kernel can be compiled for every CUDA target: `hotpath kernels compile --target all`;
#     and nvdisasm (its own wheel) for the peak kernels' disassembly check;
#   - Debian's ROCm 5.2 HIP runtime with hipRTC (no GPU), so every kernel can be compiled
#     for gfx90a through the same run-time path the ROCm backend uses;
#   - debootstrap, for scripts/compile-gfx942.sh's Debian 13 chroot (ROCm 5.7.1 for gfx942);
#   - the real parsers of the machine-read outputs the tests check: xmllint (libxml2-utils)
#     for JUnit against its schema, and promtool, taken out of Debian's prometheus package
#     into ~/.cache/hotpath/promtool without installing (or starting) the server.
# Prints the CUDA_HOME to export on its last line.
set -euo pipefail

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pkg-config gcc g++ debootstrap >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libamdhip64-dev rocm-device-libs libhiprtc-builtins5 >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libxml2-utils >/dev/null
fi

PROMTOOL_DIR="$HOME/.cache/hotpath/promtool"
if [ ! -x "$PROMTOOL_DIR/usr/bin/promtool" ] && command -v apt-get >/dev/null 2>&1; then
  deb_dir=$(mktemp -d)
  (cd "$deb_dir" && apt-get download -qq prometheus >&2)
  rm -rf "$PROMTOOL_DIR.tmp" && mkdir -p "$PROMTOOL_DIR.tmp"
  dpkg -x "$deb_dir"/prometheus_*.deb "$PROMTOOL_DIR.tmp"
  rm -rf "$deb_dir" "$PROMTOOL_DIR"
  mv "$PROMTOOL_DIR.tmp" "$PROMTOOL_DIR"
fi
"$PROMTOOL_DIR/usr/bin/promtool" --version >/dev/null

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
cargo fmt --version >/dev/null
cargo clippy --version >/dev/null

WHEELS="${HOTPATH_WHEELS:-$HOME/.cache/hotpath/nvidia-wheels}"
if [ ! -f "$WHEELS/nvidia/cu13/lib/libnvrtc.so.13" ] || [ ! -f "$WHEELS/nvidia/cu13/include/cuda_bf16.h" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$WHEELS" \
    "nvidia-cuda-nvrtc>=13,<14" "nvidia-cuda-runtime>=13,<14" >&2
fi
# nvdisasm for scripts/check-peak-sass.py, in a directory of its own (pip --target does not
# add a package to a directory that already holds one).
DISASM="${HOTPATH_NVDISASM_WHEEL:-$HOME/.cache/hotpath/nvdisasm}"
if [ ! -x "$DISASM/nvidia/cu13/bin/nvdisasm" ]; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$DISASM" "nvidia-cuda-nvdisasm>=13,<14" >&2
fi
echo "$WHEELS/nvidia/cu13"
