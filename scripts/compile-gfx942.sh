#!/usr/bin/env bash
# Compiles every kernel for gfx942 (MI300X) with the hipRTC of Debian 13 (trixie), whose ROCm
# 5.7.1 packages (hipRTC inside libamdhip64.so.5, LLVM 17 device libraries) know gfx942;
# Debian 12's ROCm 5.2 does not. No GPU needed.
#
#   scripts/compile-gfx942.sh [BINARY [OUT_DIR]]     (defaults: target/release/hotpath,
#                                                    target/kernels-out)
#
# Runs `BINARY kernels compile --target gfx942 --out-dir OUT_DIR` inside a minimal Debian 13
# chroot (a binary built on Debian 12 runs on Debian 13's newer glibc; Debian 13's libraries
# cannot be loaded into a process on the Debian 12 host). The code objects land in
# OUT_DIR/gfx942/*.co. Exits non-zero if any kernel does not compile, or if the number of
# code objects differs from the number of kernels/*.cu.
#
# Needs root (debootstrap, chroot, one bind mount) and, on the first run only, the Debian
# mirror. The chroot lives in HOTPATH_TRIXIE_CACHE (default ~/.cache/hotpath/trixie-rocm):
# built once (about 1.5 minutes), then reused with no network access; hipRTC's output is
# cached there too (keyed by the kernel source), so an unchanged kernel is not recompiled.
# To rebuild the chroot from scratch, delete that directory. The mirror is the host's Debian
# mirror from /etc/apt/sources.list*, or HOTPATH_DEBIAN_MIRROR.
#
# Care taken: the one mount (OUT_DIR, bound into the chroot) is undone on any exit; nothing
# is deleted outside the cache directory, and nothing in it while a mount lies under it;
# concurrent runs are serialised with a lock.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/release/hotpath}"
OUT="${2:-target/kernels-out}"
CACHE="${HOTPATH_TRIXIE_CACHE:-$HOME/.cache/hotpath/trixie-rocm}"
SUITE=trixie
# hipRTC (in libamdhip64.so.5) with its headers and builtins, and the device libraries.
PACKAGES=(libamdhip64-dev libhiprtc-builtins5 rocm-device-libs-17)
STAMP="$SUITE ${PACKAGES[*]}"

die() {
  echo "compile-gfx942: $*" >&2
  exit 1
}
log() { echo "compile-gfx942: $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
for tool in chroot mount umount mountpoint findmnt flock; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done
if [ ! -f "$BIN" ] || [ ! -x "$BIN" ]; then
  die "$BIN is not an executable file; build it first (cargo build --release)"
fi
case "$CACHE" in
  /*) ;;
  *) die "HOTPATH_TRIXIE_CACHE must be an absolute path, got '$CACHE'" ;;
esac
CACHE="${CACHE%/}"
if [ -z "$CACHE" ] || [ "$CACHE" = / ]; then die "refusing cache directory '$CACHE'"; fi
[ ! -L "$CACHE" ] || die "$CACHE is a symbolic link; refusing it"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd -P)"
ROOTFS="$CACHE/rootfs"
NEW="$CACHE/rootfs.new"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd -P)"

# One run at a time per cache directory (CI jobs sharing a machine).
exec 9>"$CACHE/lock"
flock -w 1800 9 || die "timed out waiting for $CACHE/lock"

# Mount points at or under $1 (findmnt escapes odd characters, so each is one line).
mounts_under() {
  findmnt -rn -o TARGET | awk -v p="$1" '$0 == p || index($0, p "/") == 1'
}

# Deletes one of this script's own directories in the cache, never across a mount.
remove_tree() {
  local dir="$1"
  case "$dir" in
    "$CACHE"/rootfs | "$CACHE"/rootfs.new) ;;
    *) die "internal error: refusing to delete $dir" ;;
  esac
  [ -e "$dir" ] || [ -L "$dir" ] || return 0
  if [ -n "$(mounts_under "$dir")" ]; then
    die "mounts remain under $dir; unmount them first: $(mounts_under "$dir" | tr '\n' ' ')"
  fi
  rm -rf --one-file-system -- "$dir"
}

MNT="$ROOTFS/hotpath-ci/out"
cleanup() {
  if mountpoint -q "$MNT" 2>/dev/null; then
    umount "$MNT" || umount -l "$MNT" || log "could not unmount $MNT"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A run killed before its trap (SIGKILL) can leave the bind mount behind: undo it first.
cleanup
if [ -n "$(mounts_under "$CACHE")" ]; then
  die "unexpected mounts under $CACHE: $(mounts_under "$CACHE" | tr '\n' ' ')"
fi

# The first Debian mirror the host's apt sources name (not the security archive).
host_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
    /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    sed -n -E \
      -e 's#^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+://[^[:space:]]*/debian)/?([[:space:]].*)?$#\2#p' \
      -e 's#^[[:space:]]*URIs:.*[[:space:]]([a-z]+://[^[:space:]]*/debian)/?([[:space:]].*)?$#\1#p' "$f"
  done | awk 'NR == 1'
}

if [ ! -f "$CACHE/ready" ] || [ "$(cat "$CACHE/ready")" != "$STAMP" ] || [ ! -d "$ROOTFS" ]; then
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found (apt-get install it)"
  MIRROR="${HOTPATH_DEBIAN_MIRROR:-$(host_mirror)}"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  log "building a Debian $SUITE chroot in $ROOTFS from $MIRROR (first run only)"
  rm -f "$CACHE/ready"
  remove_tree "$NEW"
  remove_tree "$ROOTFS"
  debootstrap --variant=minbase "$SUITE" "$NEW" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $CACHE/debootstrap.log"
  # Name resolution for apt inside the chroot (debootstrap copies it; make sure).
  rm -f "$NEW/etc/resolv.conf"
  cp -L /etc/resolv.conf "$NEW/etc/resolv.conf"
  chroot "$NEW" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    ${http_proxy:+http_proxy="$http_proxy"} ${https_proxy:+https_proxy="$https_proxy"} \
    sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" && apt-get clean' \
    sh "${PACKAGES[@]}" >"$CACHE/apt.log" 2>&1 ||
    die "installing ${PACKAGES[*]} in the chroot failed; see $CACHE/apt.log"
  mkdir "$NEW/hotpath-ci" "$NEW/hotpath-ci/out"
  mv -T "$NEW" "$ROOTFS"
  printf '%s\n' "$STAMP" >"$CACHE/ready"
fi
# shellcheck disable=SC2016  # dpkg-query's own ${...} format
chroot "$ROOTFS" dpkg-query -W -f '${Package} ${Version}\n' libamdhip64-5 rocm-device-libs-17 |
  sed 's/^/compile-gfx942: using /' >&2

# The binary is copied in (the chroot's own file); OUT_DIR is bound where it writes.
if [ ! -d "$MNT" ] || [ -L "$MNT" ] || [ -L "$ROOTFS/hotpath-ci" ]; then
  die "$MNT is not a plain directory; delete $CACHE to rebuild the chroot"
fi
install -m 0755 "$BIN" "$ROOTFS/hotpath-ci/hotpath"
mount --bind "$OUT" "$MNT"
chroot "$ROOTFS" env -i HOME=/root PATH=/usr/bin:/bin LC_ALL=C.UTF-8 \
  HOTPATH_CACHE_DIR=/var/cache/hotpath/kernels \
  /hotpath-ci/hotpath kernels compile --target gfx942 --out-dir /hotpath-ci/out
cleanup

want=$(find kernels -maxdepth 1 -name '*.cu' -type f | wc -l)
got=$(find "$OUT/gfx942" -maxdepth 1 -name '*.co' -type f | wc -l)
[ "$got" = "$want" ] || die "$got code objects in $OUT/gfx942 for $want kernels/*.cu"
log "$got of $want kernel files compiled for gfx942"
