#!/usr/bin/env bash
# Runs every kernel in kernels/ on the CPU under the host emulator (tools/kernel-emu) and
# checks it against an f64 reference. No GPU, no CUDA toolkit: g++ (C++20) and python3.
# Prints one line per kernel and shape group; exits non-zero if any check fails or the
# emulator stops a kernel (out-of-bounds access, a collective with exited lanes, deadlock...).
# Every launch comes from core's launch plans: the tests list the cases they need, the
# hotpath binary plans them (`kernels plan --cases`), and the tests run those plans.
#
# usage: scripts/emulate-kernels.sh [--no-sanitize] [--kernels DIR] [--build DIR] [--only] [-v] [--fail-fast] [GROUP...]
#   GROUP: a kernel file's test group, e.g. stream kv gemv (default: all; the build's
#          `kernel-emu --list-groups` lists them), or a fnuz group kv_fnuz, gemv_fp8w_fnuz,
#          attn_decode_fnuz: the fp8 kernels built with -DHP_FP8_FNUZ (AMD gfx94x's e4m3fnuz)
#   --no-sanitize  build without AddressSanitizer/UBSan (faster build, fewer checks)
#   --kernels DIR  kernel sources to test (default: kernels/); tools/kernel-emu/mutate.py uses it
#   --only         compile and link the named groups' tests alone (kernel-emu-only), so a
#                  mutation of the shared header rebuilds one test file, not all of them
#   -v, --fail-fast  passed to kernel-emu: one line per shape; stop at the first failed shape
#   HOTPATH=PATH   the hotpath binary that plans (default: target/release/hotpath, built here)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EMU="$ROOT/tools/kernel-emu"
KERNELS="$ROOT/kernels"
BUILD=""
SAN=1
ONLY=0
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-sanitize) SAN=0 ;;
    --only) ONLY=1 ;;
    --kernels) KERNELS="$(cd "$2" && pwd)"; shift ;;
    --build) BUILD="$2"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
CXX="${CXX:-g++}"
FLAGS=(-std=c++20 -O1 -g -pthread -Wall -Wextra -Wno-unknown-pragmas -Wno-unused-parameter)
if [ "$SAN" = 1 ]; then
  FLAGS+=(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  BUILD="${BUILD:-$ROOT/target/kernel-emu/asan}"
else
  BUILD="${BUILD:-$ROOT/target/kernel-emu/plain}"
fi
mkdir -p "$BUILD/gen"
start=$(date +%s)

# 1. Kernel sources → emulator translation units (rewritten only when they change, so the
#    build below recompiles only what is affected). The portability header's inline PTX (the
#    shared mma/ldmatrix/cp.async wrappers) is rewritten too; $BUILD/hotpath_common.cuh comes
#    before kernels/ on the include path, so every file includes the rewritten one.
python3 "$EMU/prep.py" --header "$KERNELS/hotpath_common.cuh" "$BUILD/hotpath_common.cuh.new"
if cmp -s "$BUILD/hotpath_common.cuh.new" "$BUILD/hotpath_common.cuh"; then rm "$BUILD/hotpath_common.cuh.new"; else mv "$BUILD/hotpath_common.cuh.new" "$BUILD/hotpath_common.cuh"; fi
for src in "$KERNELS"/*.cu; do
  k=$(basename "$src" .cu)
  python3 "$EMU/prep.py" "$src" "$BUILD/gen/$k.cu.new" "emu_$k"
  if cmp -s "$BUILD/gen/$k.cu.new" "$BUILD/gen/$k.cu"; then rm "$BUILD/gen/$k.cu.new"; else mv "$BUILD/gen/$k.cu.new" "$BUILD/gen/$k.cu"; fi
done

# 2. Compile (two at a time) what is out of date, link. Out of date is by content: the hash of
#    an object's inputs (its source, the headers, its kernel, the flags) differs from the one
#    recorded beside it. Timestamps are not enough: a mutation and its restore can land within
#    one tick of this machine's clock.
GROUPS_WANTED=()
EMU_FLAGS=()
for a in ${ARGS[@]+"${ARGS[@]}"}; do
  case "$a" in -*) EMU_FLAGS+=("$a") ;; *) GROUPS_WANTED+=("$a") ;; esac
done
# Groups named <kernel>_fnuz are the fnuz build's (kernel-emu-fnuz), the rest the main build's.
MAIN_WANTED=()
FNUZ_WANTED=()
for g in ${GROUPS_WANTED[@]+"${GROUPS_WANTED[@]}"}; do
  case "$g" in *_fnuz) FNUZ_WANTED+=("$g") ;; *) MAIN_WANTED+=("$g") ;; esac
done
if [ "$ONLY" = 1 ] && [ ${#GROUPS_WANTED[@]} -eq 0 ]; then
  echo "emulate-kernels.sh: --only needs the groups to build, e.g. --only kv" >&2
  exit 2
fi
# The kernels' folder is named relative to the repository, so a build kept in target/ (CI keeps
# it between runs) is reused from a clone at another path; the sources are hashed below.
echo "${FLAGS[*]} $($CXX --version | head -1) ${KERNELS#"$ROOT"/}" > "$BUILD/flags"
common=("$EMU"/include/*.h "$EMU"/tests/*.h "$BUILD/hotpath_common.cuh" "$BUILD/flags")
mkdir -p "$BUILD/fnuz"

# compile DIR EXTRA-FLAG SOURCE...: the out-of-date sources into DIR/<name>.o.
compile() {
  local dir=$1 extra=$2 src name todo=()
  shift 2
  for src in "$@"; do
    name=$(basename "$src" .cpp)
    local deps=("$src" "${common[@]}")
    case "$name" in t_*) deps+=("$BUILD/gen/${name#t_}.cu") ;; esac
    echo "$extra $(cat "${deps[@]}" | sha1sum)" > "$dir/$name.sum.new"
    if [ -f "$dir/$name.o" ] && cmp -s "$dir/$name.sum.new" "$dir/$name.sum"; then
      rm "$dir/$name.sum.new"
    else
      rm -f "$dir/$name.sum"
      todo+=("$src")
    fi
  done
  [ ${#todo[@]} -gt 0 ] || return 0
  printf '%s\n' "${todo[@]}" | xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c \
    'exec "$0" "$@" '"$extra"' -I"'"$EMU"'/include" -I"'"$BUILD"'" -I"'"$KERNELS"'" -c "{}" -o "'"$dir"'/$(basename "{}" .cpp).o"' \
    "$CXX" "${FLAGS[@]}"
  for src in "${todo[@]}"; do
    name=$(basename "$src" .cpp)
    mv "$dir/$name.sum.new" "$dir/$name.sum"
  done
}

# link BINARY OBJECT...: relinked when the objects (their recorded hashes) changed.
link() {
  local bin=$1 o
  shift
  { for o in "$@"; do echo "$o $(cat "${o%.o}.sum")"; done; } > "$bin.sum.new"
  if [ -x "$bin" ] && cmp -s "$bin.sum.new" "$bin.sum"; then
    rm "$bin.sum.new"
  else
    $CXX "${FLAGS[@]}" "$@" -o "$bin"
    mv "$bin.sum.new" "$bin.sum"
  fi
}

# The test sources of the named groups (--only) or of all; `tests/main.cpp` always.
tests_of() { # SUFFIX-TO-STRIP GROUP... (no groups: every test)
  local strip=$1 src name
  shift
  for src in "$EMU"/tests/*.cpp; do
    name=$(basename "$src" .cpp)
    if [ "$ONLY" = 0 ] || [ "$name" = main ] || [[ " ${*/%$strip/} " == *" ${name#t_} "* ]]; then
      echo "$src"
    fi
  done
}

# The main build, unless only fnuz groups are asked for (then only the runtime and plan
# reader the fnuz build links).
run_main=1
[ ${#GROUPS_WANTED[@]} -gt 0 ] && [ ${#MAIN_WANTED[@]} -eq 0 ] && run_main=0
MAIN_EMU="$BUILD/kernel-emu"
[ "$ONLY" = 1 ] && MAIN_EMU="$BUILD/kernel-emu-only"
main_srcs=("$EMU"/src/*.cpp)
[ "$run_main" = 1 ] && mapfile -t -O ${#main_srcs[@]} main_srcs < <(tests_of "" ${MAIN_WANTED[@]+"${MAIN_WANTED[@]}"})
compile "$BUILD" "" "${main_srcs[@]}"
if [ "$run_main" = 1 ]; then
  objs=()
  for src in "${main_srcs[@]}"; do objs+=("$BUILD/$(basename "$src" .cpp).o"); done
  link "$MAIN_EMU" "${objs[@]}"
fi
# 2b. The fnuz build: the tests that have cases for AMD gfx94x's fp8 encoding (they mention
#     HP_FP8_FNUZ and register a group <name>_fnuz under it) compiled again with
#     -DHP_FP8_FNUZ, which makes the kernels' fp8 helpers e4m3fnuz (hotpath_common.cuh), with
#     main.cpp, linked into kernel-emu-fnuz with the runtime and plan reader.
run_fnuz=1
[ ${#GROUPS_WANTED[@]} -gt 0 ] && [ ${#FNUZ_WANTED[@]} -eq 0 ] && run_fnuz=0
FNUZ_EMU="$BUILD/fnuz/kernel-emu-fnuz"
[ "$ONLY" = 1 ] && FNUZ_EMU="$BUILD/fnuz/kernel-emu-fnuz-only"
fnuz_srcs=()
while read -r src; do
  { [ "$(basename "$src")" = main.cpp ] || grep -q HP_FP8_FNUZ "$src"; } && fnuz_srcs+=("$src")
done < <(tests_of _fnuz ${FNUZ_WANTED[@]+"${FNUZ_WANTED[@]}"})
[ ${#fnuz_srcs[@]} -gt 1 ] || run_fnuz=0
if [ "$run_fnuz" = 1 ]; then
  compile "$BUILD/fnuz" -DHP_FP8_FNUZ "${fnuz_srcs[@]}"
  objs=("$BUILD/runtime.o" "$BUILD/plans.o")
  for src in "${fnuz_srcs[@]}"; do objs+=("$BUILD/fnuz/$(basename "$src" .cpp).o"); done
  link "$FNUZ_EMU" "${objs[@]}"
fi
built=$(date +%s)
echo "kernel-emu: built in $((built - start)) s ($([ "$SAN" = 1 ] && echo "ASan+UBSan" || echo "no sanitizers"), kernels from ${KERNELS#$ROOT/})"

# 3. Plans: the cases the tests need, planned by core (the hotpath binary, rebuilt here
#    unless HOTPATH names one, so the plans are the source's).
if [ -z "${HOTPATH:-}" ]; then
  (cd "$ROOT" && cargo build --release --quiet --bin hotpath)
  HOTPATH="$ROOT/target/release/hotpath"
fi
: > "$BUILD/cases.txt"
: > "$BUILD/plans.txt"
: > "$BUILD/fnuz/cases.txt"
: > "$BUILD/fnuz/plans.txt"
if [ "$run_main" = 1 ]; then
  "$MAIN_EMU" --list-cases ${MAIN_WANTED[@]+"${MAIN_WANTED[@]}"} > "$BUILD/cases.txt"
  "$HOTPATH" kernels plan --cases "$BUILD/cases.txt" --format lines > "$BUILD/plans.txt"
fi
if [ "$run_fnuz" = 1 ]; then
  "$FNUZ_EMU" --list-cases ${FNUZ_WANTED[@]+"${FNUZ_WANTED[@]}"} > "$BUILD/fnuz/cases.txt"
  "$HOTPATH" kernels plan --cases "$BUILD/fnuz/cases.txt" --format lines > "$BUILD/fnuz/plans.txt"
fi
echo "kernel-emu: $(cat "$BUILD/cases.txt" "$BUILD/fnuz/cases.txt" | wc -l) cases planned by $HOTPATH ($(wc -l < "$BUILD/fnuz/cases.txt") of the fnuz build)"

# 4. Run: the groups in two processes (about equal halves: attn_decode, and all the others),
#    outputs printed in order.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The fnuz build's groups run beside them, in a process of their own.
halves=()
if [ "$run_main" = 1 ]; then
  if [ ${#GROUPS_WANTED[@]} -eq 0 ]; then
    halves=("$("$MAIN_EMU" --list-groups | grep -vx attn_decode | tr '\n' ' ')" "attn_decode")
  else
    halves=("${MAIN_WANTED[*]}")
  fi
fi
rc=0
pids=()
for i in "${!halves[@]}"; do
  # shellcheck disable=SC2086
  "$MAIN_EMU" --cases "$BUILD/cases.txt" --plans "$BUILD/plans.txt" ${halves[$i]} ${EMU_FLAGS[@]+"${EMU_FLAGS[@]}"} > "$BUILD/run$i.log" 2>&1 &
  pids+=($!)
done
if [ "$run_fnuz" = 1 ]; then
  i=${#halves[@]}
  halves+=("${FNUZ_WANTED[*]:-fnuz}")
  # shellcheck disable=SC2086
  "$FNUZ_EMU" --cases "$BUILD/fnuz/cases.txt" --plans "$BUILD/fnuz/plans.txt" ${FNUZ_WANTED[@]+"${FNUZ_WANTED[@]}"} ${EMU_FLAGS[@]+"${EMU_FLAGS[@]}"} > "$BUILD/run$i.log" 2>&1 &
  pids+=($!)
fi
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then rc=1; fi
done
for i in "${!halves[@]}"; do
  grep -v '^PASSED:\|^FAILED:' "$BUILD/run$i.log" || true
  if ! grep -q '^PASSED:' "$BUILD/run$i.log"; then
    grep '^FAILED:' "$BUILD/run$i.log" || echo "kernel-emu stopped: $(grep -m1 -E 'EMU ERROR|ERROR: AddressSanitizer|runtime error' "$BUILD/run$i.log" || tail -1 "$BUILD/run$i.log")"
  fi
done
end=$(date +%s)
if [ "$rc" = 0 ]; then
  echo "kernel-emu: all checks passed (build $((built - start)) s, run $((end - built)) s)"
else
  echo "kernel-emu: FAILED (logs: $BUILD/run*.log)"
fi
exit "$rc"
