#!/usr/bin/env bash
# Installs what CI needs on a fresh Debian 12 machine with the Rust toolchain present.
# Idempotent: safe to run again. Later issues add the NVRTC wheels and Debian's ROCm hipRTC here.
set -euo pipefail

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq
  # pkg-config and a C compiler for crates with build scripts; present on most images.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pkg-config gcc >/dev/null
fi

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
cargo fmt --version >/dev/null
cargo clippy --version >/dev/null
