#!/usr/bin/env bash
# CI check of the binary we ship: builds it (`cargo build --profile dist`: stripped, no debug
# info, fat LTO, one codegen unit; Cargo.toml's [profile.dist]) and fails if
# target/dist/hotpath is over the limit, 10 MB (10 000 000 bytes) unless HOTPATH_DIST_MAX_BYTES
# says otherwise, or carries a symbol table, or does not run.
#   scripts/check-dist-size.sh            # prints the path and the size on success
set -euo pipefail
cd "$(dirname "$0")/.."

max="${HOTPATH_DIST_MAX_BYTES:-10000000}"
case "$max" in
  ''|*[!0-9]*) echo "check-dist-size: HOTPATH_DIST_MAX_BYTES=$max is not a number of bytes" >&2; exit 2 ;;
esac

cargo build --profile dist
bin="${CARGO_TARGET_DIR:-target}/dist/hotpath"
[ -f "$bin" ] || { echo "check-dist-size: $bin was not built" >&2; exit 1; }

size=$(stat -c %s "$bin")
if [ "$size" -gt "$max" ]; then
  echo "check-dist-size: $bin is $size bytes, over the limit of $max" >&2
  exit 1
fi
# Stripped: no .symtab section (readelf is in binutils; skipped when absent).
if command -v readelf >/dev/null && readelf -S "$bin" | grep -q '\.symtab'; then
  echo "check-dist-size: $bin still has a symbol table; [profile.dist] must strip it" >&2
  exit 1
fi
# It runs: `list` needs no GPU and touches no file.
"$bin" list >/dev/null || { echo "check-dist-size: $bin does not run (\`hotpath list\` failed)" >&2; exit 1; }
echo "$bin: $size bytes (limit $max)"
