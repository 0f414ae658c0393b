#!/usr/bin/env bash
# Runs every kernel in kernels/ on the CPU under the host emulator (tools/kernel-emu) and
# checks it against an f64 reference. No GPU, no CUDA toolkit: g++ (C++20) and python3.
# Prints one line per kernel and shape group; exits non-zero if any check fails or the
# emulator stops a kernel (out-of-bounds access, a collective with exited lanes, deadlock...).
# Every launch comes from core's launch plans: the tests list the cases they need, the
# hotpath binary plans them (`kernels plan --cases`), and the tests run those plans.
#
# usage: scripts/emulate-kernels.sh [--no-sanitize] [--kernels DIR] [--build DIR] [-v] [--fail-fast] [GROUP...]
#   GROUP: a kernel file's test group, e.g. stream kv gemv (default: all; the build's
#          `kernel-emu --list-groups` lists them), or a fnuz group kv_fnuz, gemv_fp8w_fnuz,
#          attn_decode_fnuz: the fp8 kernels built with -DHP_FP8_FNUZ (AMD gfx94x's e4m3fnuz)
#   --no-sanitize  build without AddressSanitizer/UBSan (faster build, fewer checks)
#   --kernels DIR  kernel sources to test (default: kernels/); tools/kernel-emu/mutate.py uses it
#   -v, --fail-fast  passed to kernel-emu: one line per shape; stop at the first failed shape
#   HOTPATH=PATH   the hotpath binary that plans (default: target/release/hotpath, built here)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EMU="$ROOT/tools/kernel-emu"
KERNELS="$ROOT/kernels"
BUILD=""
SAN=1
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-sanitize) SAN=0 ;;
    --kernels) KERNELS="$(cd "$2" && pwd)"; shift ;;
    --build) BUILD="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
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

# 2. Compile (two at a time) what is out of date, link.
echo "${FLAGS[*]} $($CXX --version | head -1) $KERNELS" > "$BUILD/flags.new"
if ! cmp -s "$BUILD/flags.new" "$BUILD/flags"; then rm -f "$BUILD"/*.o; mv "$BUILD/flags.new" "$BUILD/flags"; else rm "$BUILD/flags.new"; fi
common=("$EMU"/include/*.h "$EMU"/tests/*.h "$BUILD/hotpath_common.cuh")
# Only fnuz groups asked for (mutate.py's fnuz mutations): the main build's tests are not
# compiled, only the runtime and plan reader the fnuz build links.
ONLY_FNUZ=0
for a in ${ARGS[@]+"${ARGS[@]}"}; do
  case "$a" in -*) ;; *_fnuz) [ "$ONLY_FNUZ" = 0 ] && ONLY_FNUZ=1 ;; *) ONLY_FNUZ=2 ;; esac
done
[ "$ONLY_FNUZ" = 2 ] && ONLY_FNUZ=0
MAIN_SRCS=("$EMU"/tests/*.cpp "$EMU"/src/*.cpp)
[ "$ONLY_FNUZ" = 1 ] && MAIN_SRCS=("$EMU"/src/*.cpp)
jobs=()
for src in "${MAIN_SRCS[@]}"; do
  name=$(basename "$src" .cpp)
  obj="$BUILD/$name.o"
  deps=("$src" "${common[@]}")
  case "$name" in t_*) deps+=("$BUILD/gen/${name#t_}.cu") ;; esac
  stale=0
  [ -f "$obj" ] || stale=1
  for d in "${deps[@]}"; do [ "$stale" = 1 ] || [ "$d" -nt "$obj" ] && stale=1; done
  [ "$stale" = 1 ] && jobs+=("$src")
done
if [ ${#jobs[@]} -gt 0 ]; then
  printf '%s\n' "${jobs[@]}" | xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c \
    'exec "$0" "$@" -I"'"$EMU"'/include" -I"'"$BUILD"'" -I"'"$KERNELS"'" -c "{}" -o "'"$BUILD"'/$(basename "{}" .cpp).o"' \
    "$CXX" "${FLAGS[@]}"
fi
if [ "$ONLY_FNUZ" = 0 ]; then
  relink=0
  [ -x "$BUILD/kernel-emu" ] || relink=1
  for o in "$BUILD"/*.o; do [ "$relink" = 1 ] || [ "$o" -nt "$BUILD/kernel-emu" ] && relink=1; done
  [ "$relink" = 1 ] && $CXX "${FLAGS[@]}" "$BUILD"/*.o -o "$BUILD/kernel-emu"
fi
# 2b. The fnuz build: the tests that have cases for AMD gfx94x's fp8 encoding (they mention
#     HP_FP8_FNUZ and register a group <name>_fnuz under it) compiled again with
#     -DHP_FP8_FNUZ, which makes the kernels' fp8 helpers e4m3fnuz (hotpath_common.cuh), with
#     main.cpp, linked into kernel-emu-fnuz with the runtime and plan reader.
FNUZ_TESTS=()
for src in "$EMU"/tests/t_*.cpp; do grep -q HP_FP8_FNUZ "$src" && FNUZ_TESTS+=("$src"); done
mkdir -p "$BUILD/fnuz"
if [ ${#FNUZ_TESTS[@]} -gt 0 ]; then
  fjobs=()
  for src in "${FNUZ_TESTS[@]}" "$EMU/tests/main.cpp"; do
    name=$(basename "$src" .cpp)
    obj="$BUILD/fnuz/$name.o"
    deps=("$src" "${common[@]}" "$BUILD/flags")
    case "$name" in t_*) deps+=("$BUILD/gen/${name#t_}.cu") ;; esac
    stale=0
    [ -f "$obj" ] || stale=1
    for d in "${deps[@]}"; do [ "$stale" = 1 ] || [ "$d" -nt "$obj" ] && stale=1; done
    [ "$stale" = 1 ] && fjobs+=("$src")
  done
  if [ ${#fjobs[@]} -gt 0 ] || [ ! -x "$BUILD/fnuz/kernel-emu-fnuz" ] || [ "$BUILD/runtime.o" -nt "$BUILD/fnuz/kernel-emu-fnuz" ] || [ "$BUILD/plans.o" -nt "$BUILD/fnuz/kernel-emu-fnuz" ]; then
    if [ ${#fjobs[@]} -gt 0 ]; then
      printf '%s\n' "${fjobs[@]}" | xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} sh -c \
        'exec "$0" "$@" -DHP_FP8_FNUZ -I"'"$EMU"'/include" -I"'"$BUILD"'" -I"'"$KERNELS"'" -c "{}" -o "'"$BUILD"'/fnuz/$(basename "{}" .cpp).o"' \
        "$CXX" "${FLAGS[@]}"
    fi
    $CXX "${FLAGS[@]}" "$BUILD"/fnuz/*.o "$BUILD/runtime.o" "$BUILD/plans.o" -o "$BUILD/fnuz/kernel-emu-fnuz"
  fi
fi
built=$(date +%s)
echo "kernel-emu: built in $((built - start)) s ($([ "$SAN" = 1 ] && echo "ASan+UBSan" || echo "no sanitizers"), kernels from ${KERNELS#$ROOT/})"

# 3. Plans: the cases the tests need, planned by core (the hotpath binary, rebuilt here
#    unless HOTPATH names one, so the plans are the source's).
if [ -z "${HOTPATH:-}" ]; then
  (cd "$ROOT" && cargo build --release --quiet --bin hotpath)
  HOTPATH="$ROOT/target/release/hotpath"
fi
GROUPS_WANTED=()
EMU_FLAGS=()
for a in ${ARGS[@]+"${ARGS[@]}"}; do
  case "$a" in -*) EMU_FLAGS+=("$a") ;; *) GROUPS_WANTED+=("$a") ;; esac
done
# Groups named <kernel>_fnuz are the fnuz build's (kernel-emu-fnuz), the rest the main build's.
FNUZ_EMU="$BUILD/fnuz/kernel-emu-fnuz"
MAIN_WANTED=()
FNUZ_WANTED=()
for g in ${GROUPS_WANTED[@]+"${GROUPS_WANTED[@]}"}; do
  case "$g" in *_fnuz) FNUZ_WANTED+=("$g") ;; *) MAIN_WANTED+=("$g") ;; esac
done
run_main=1
run_fnuz=0
[ -x "$FNUZ_EMU" ] && run_fnuz=1
if [ ${#GROUPS_WANTED[@]} -gt 0 ]; then
  [ ${#MAIN_WANTED[@]} -gt 0 ] || run_main=0
  [ ${#FNUZ_WANTED[@]} -gt 0 ] || run_fnuz=0
fi
: > "$BUILD/cases.txt"
: > "$BUILD/plans.txt"
: > "$BUILD/fnuz/cases.txt"
: > "$BUILD/fnuz/plans.txt"
if [ "$run_main" = 1 ]; then
  "$BUILD/kernel-emu" --list-cases ${MAIN_WANTED[@]+"${MAIN_WANTED[@]}"} > "$BUILD/cases.txt"
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
    halves=("$("$BUILD/kernel-emu" --list-groups | grep -vx attn_decode | tr '\n' ' ')" "attn_decode")
  else
    halves=("${MAIN_WANTED[*]}")
  fi
fi
rc=0
pids=()
for i in "${!halves[@]}"; do
  # shellcheck disable=SC2086
  "$BUILD/kernel-emu" --cases "$BUILD/cases.txt" --plans "$BUILD/plans.txt" ${halves[$i]} ${EMU_FLAGS[@]+"${EMU_FLAGS[@]}"} > "$BUILD/run$i.log" 2>&1 &
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
