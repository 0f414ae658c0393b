#!/usr/bin/env bash
# Proves the Slurm fleet validation end to end on this one machine with a real Slurm
# (Debian's slurmctld + slurmd + munge, started here as root and stopped at the end) and
# the CPU backend:
#   1. scripts/slurm/submit.sh --wait: the validate job, then the fleet job after it; one
#      node is listed, not judged (exit 0);
#   2. three more validate jobs of this node under other tags, one made slow on purpose
#      (HOTPATH_FAULT=slow4:copy: its copy measures at a quarter of its speed), then
#      fleet.sbatch: the slow one must be flagged and the fleet job must fail (exit 1).
#      A quarter, not a half: four runs on one shared 2-core VM can differ by 1.7x when
#      something else runs beside them (seen in CI), and a 2x fault then drowns in that.
# Usage (root): scripts/slurm/ci-selftest.sh [path/to/hotpath]   (default target/release/hotpath)
set -euo pipefail
cd "$(dirname "$0")/../.."
HOTPATH="$(realpath "${1:-target/release/hotpath}")"
export HOTPATH
[ -x "$HOTPATH" ] || { echo "error: $HOTPATH is not an executable hotpath; build it with cargo build --release" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: the Slurm self-test starts slurmctld and slurmd and must run as root" >&2; exit 2; }

if ! command -v slurmctld >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

started=()
cleanup() {
  for pidfile in "${started[@]}"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
}
trap cleanup EXIT

if ! sinfo >/dev/null 2>&1; then
  H=$(hostname -s); CPUS=$(nproc); MEM=$(($(free -m | awk '/Mem:/{print $2}') - 1024))
  mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  [ -f /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge; chmod 400 /etc/munge/munge.key
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=hotpath-ci
SlurmctldHost=$H
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
NodeName=$H CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=ci Nodes=$H Default=YES MaxTime=INFINITE State=UP
CONF
  if ! pgrep -x munged >/dev/null; then
    su -s /bin/sh munge -c /usr/sbin/munged
    started+=(/run/munge/munged.pid)
  fi
  /usr/sbin/slurmctld; started+=(/run/slurmctld.pid)
  /usr/sbin/slurmd; started+=(/run/slurmd.pid)
  for _ in $(seq 1 30); do
    sinfo -h -o '%T' 2>/dev/null | grep -q idle && break
    sleep 1
  done
fi
sinfo
node=$(sinfo -h -o '%N' | head -n 1)

RESULTS_DIR=$(mktemp -d /tmp/hotpath-slurm.XXXXXX)
export RESULTS_DIR BACKEND=cpu LEVEL=quick
echo "== 1. submit.sh --wait: one node validated, then gathered"
set +e
RESULT_TAG=a scripts/slurm/submit.sh --wait -- --time=00:10:00
rc=$?
set -e
cat "$RESULTS_DIR/fleet/fleet.txt"
# One node is listed, not judged: the job succeeds unless that node failed its own checks.
want=$(python3 -c "import json,sys; print(1 if json.load(open(sys.argv[1]))['status'] == 'FAIL' else 0)" "$RESULTS_DIR/$node-a.json")
[ "$rc" = "$want" ] || { echo "FAIL: the one-node fleet job exited $rc (expected $want)"; cat "$RESULTS_DIR"/*.err; exit 1; }
grep -q "at least 3 are needed" "$RESULTS_DIR/fleet/fleet.txt" || { echo "FAIL: one node must be listed, not judged"; exit 1; }

echo "== 2. three more validations, one slow on purpose, then the fleet"
jobs=()
for tag in b c; do
  jobs+=("$(RESULT_TAG=$tag sbatch --parsable --output="$RESULTS_DIR/slurm-%j.out" scripts/slurm/validate.sbatch)")
done
jobs+=("$(RESULT_TAG=d HOTPATH_FAULT=slow4:copy/elements= sbatch --parsable --output="$RESULTS_DIR/slurm-%j.out" scripts/slurm/validate.sbatch)")
deps=$(IFS=:; echo "${jobs[*]}")
set +e
sbatch --parsable --wait --dependency="afterany:$deps" --output="$RESULTS_DIR/slurm-fleet-%j.out" scripts/slurm/fleet.sbatch
rc=$?
set -e
cat "$RESULTS_DIR/fleet/fleet.txt"
for tag in a b c d; do
  [ -s "$RESULTS_DIR/$node-$tag.json" ] || { echo "FAIL: no validate report from $node-$tag"; ls -l "$RESULTS_DIR"; exit 1; }
done
[ "$rc" = 1 ] || { echo "FAIL: the fleet job exited $rc (expected 1: a slow node)"; exit 1; }
python3 - "$RESULTS_DIR/fleet/fleet.json" "$node" <<'PY'
import json, sys
report, node = json.load(open(sys.argv[1])), sys.argv[2]
slow = report["slow_nodes"]
members = report["groups"][0]["members"]
values = {m["node"]: m["metrics"].get("perf/copy") for m in members}
planted = [n for n in slow if n.endswith(f"[{node}-d]")]
assert planted, f"the planted slow node {node}-d is not flagged: {slow}; perf/copy B/s: {values}"

assert len(members) == 4, f"expected 4 validations, got {len(members)}"
out = [o for o in report["groups"][0]["outliers"] if o["node"] == planted[0]]
assert any(o["metric"] == "perf/copy" and o["direction"] == "slow" for o in out), out
print(f"ok: {planted[0]} flagged slow on perf/copy ({out[0]['delta_pct']:+.1f} %); slow nodes: {slow}")
PY
echo "slurm self-test passed"
