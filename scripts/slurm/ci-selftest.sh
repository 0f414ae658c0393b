#!/usr/bin/env bash
# Proves the Slurm fleet validation end to end on a real three-node Slurm on this one
# machine (scripts/slurm/ci-cluster.sh: Debian's slurmctld, three slurmd n1, n2, n3, each in
# its own network and UTS namespace, and munge; started here as root, stopped at the end on
# every exit path) and the CPU backend:
#   1. scripts/slurm/submit.sh --wait -- --nodes=3: validate on n1, n2 and n3, then the
#      fleet job. n2 is made slow on purpose (HOTPATH_FAULT=slow10:copy: its copy measures
#      at a tenth of its speed); the fleet must flag n2 slow on perf/copy and exit 1. Every
#      node's .json, .prom and .xml must exist. A tenth, not a quarter: on the 2-core VM the
#      CPU copy of one quick validate measured either about 8 or about 27 GB/s from one run
#      to the next (3.4x; seen in 8 runs of this test), and a quarter-speed n2 measured in a
#      27 GB/s run (6.7) was above the other nodes' 8 GB/s runs, unflagged; a tenth is below
#      either.
#   2. The same on three nodes again (nothing slowed), judged against phase 1's fleet.json
#      (FLEET_BASELINE), and node n3 dies mid-job: once its validate task runs, every
#      process of n3 (slurmd, slurmstepd, the task) is killed. The validate job must still
#      finish on n1 and n2 (--no-kill), the fleet job must run, name n3 missing, judge n1
#      and n2 against the baseline (neither slow) and exit 1.
#   The Prometheus files are checked with promtool (PROMTOOL, else the one
#   scripts/ci-setup.sh extracts, else promtool on PATH), the JUnit files with xmllint against
#   tests/fixtures/junit/JUnit.xsd (JUNIT_XSD to use another; well-formedness only when
#   there is none). Under
#   CI=true a missing promtool is an error; otherwise that check is skipped, said so.
#   HOTPATH_SLURM_EXAMPLE_DIR: copy both phases' fleet.txt and fleet.json there
#   (phase1-fleet.txt, ...), e.g. results/slurm-3node.
# Usage (root): scripts/slurm/ci-selftest.sh [path/to/hotpath]   (default target/release/hotpath)
set -euo pipefail
cd "$(dirname "$0")/../.."
REAL_HOTPATH="$(realpath "${1:-target/release/hotpath}")"
[ -x "$REAL_HOTPATH" ] || { echo "error: $REAL_HOTPATH is not an executable hotpath; build it with cargo build --release" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "error: the Slurm self-test starts slurmctld, slurmd and munged and makes network namespaces: it must run as root" >&2; exit 2; }

need=()
for c in slurmctld:slurm-wlm munged:munge ip:iproute2 unshare:util-linux nsenter:util-linux \
         flock:util-linux xmllint:libxml2-utils python3:python3; do
  command -v "${c%%:*}" >/dev/null 2>&1 || need+=("${c#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

T=$(mktemp -d /tmp/hotpath-slurm3.XXXXXX)
cluster_up=0
submit=
# The submit.sh running in the background, and its sbatch --wait: stopped first, or it would
# wait for a controller that is gone.
stop_submit() {
  if [ -n "$submit" ] && kill -0 "$submit" 2>/dev/null; then
    pkill -TERM -P "$submit" 2>/dev/null || true
    kill -TERM "$submit" 2>/dev/null || true
    wait "$submit" 2>/dev/null || true
  fi
  submit=
}
cleanup() {
  local rc=$?
  stop_submit
  exec 9>&- 2>/dev/null || true
  if [ "$cluster_up" = 1 ]; then
    bash scripts/slurm/ci-cluster.sh down || rc=1
  fi
  rm -rf "$T"
  exit "$rc"
}
# The long waits run in the background under `wait`, which a signal interrupts (bash runs a
# trap only once a foreground command is over), so INT and TERM take everything down at once.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() { echo "FAIL: $*" >&2; exit 1; }
t_all=$SECONDS

echo "== the cluster (ci-cluster.sh up prints how long it took)"
cluster_up=1
env_line=$(bash scripts/slurm/ci-cluster.sh up)
eval "$env_line"
export SLURM_CONF
[ "$(srun -N3 hostname | sort | tr '\n' ' ')" = "n1 n2 n3 " ] || fail "srun -N3 hostname did not print n1 n2 n3"

# The three nodes are namespaces of one machine and share its cores: measured at the same
# time they would measure each other, so every hotpath run of every node takes one lock and
# they measure in turn. The wrapper also plants the slow node: HOTPATH_FAULT on the node
# named by HOTPATH_CI_SLOW_NODE (n2 in phase 1) only.
LOCK="$T/hotpath.lock"
cat > "$T/hotpath" <<WRAP
#!/bin/sh
if [ "\$1" = validate ] && [ -n "\${HOTPATH_CI_SLOW_NODE:-}" ] && [ "\$(hostname)" = "\$HOTPATH_CI_SLOW_NODE" ]; then
  export HOTPATH_FAULT=slow10:copy/elements=
fi
exec flock "$LOCK" "$REAL_HOTPATH" "\$@"
WRAP
chmod 755 "$T/hotpath"
touch "$LOCK"
unset HOTPATH_FAULT HOTPATH_CI_SLOW_NODE FLEET_BASELINE
export HOTPATH="$T/hotpath" BACKEND=cpu LEVEL=quick

PROMTOOL="${PROMTOOL:-$HOME/.cache/hotpath/promtool/usr/bin/promtool}"
[ -x "$PROMTOOL" ] || PROMTOOL=$(command -v promtool || true)
# The JUnit schema: JUNIT_XSD, else the repository's (tests/fixtures/junit/JUnit.xsd).
XSD="${JUNIT_XSD:-tests/fixtures/junit/JUnit.xsd}"
# check_exports FILE...: each .prom through promtool, each .xml through xmllint.
check_exports() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || fail "$f is missing or empty"
    case "$f" in
      *.prom)
        if [ -n "$PROMTOOL" ]; then
          "$PROMTOOL" check metrics < "$f" || fail "promtool check metrics rejects $f"
        elif [ "${CI:-}" = true ]; then
          fail "promtool not found (scripts/ci-setup.sh extracts it; or set PROMTOOL)"
        else
          echo "skipped: promtool check of $f (no promtool; scripts/ci-setup.sh extracts it, or set PROMTOOL)"
        fi ;;
      *.xml)
        if [ -f "$XSD" ]; then
          xmllint --noout --schema "$XSD" "$f" || fail "$f does not validate against $XSD"
        else
          xmllint --noout "$f" || fail "$f is not well-formed XML"
          echo "note: $XSD absent; $f checked for well-formedness only"
        fi ;;
    esac
  done
  echo "ok: $# export file(s) checked"
}
# ns_has_wrapper NODE: a process of that node runs the wrapper's flock (waiting or running).
ns_has_wrapper() {
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do
    tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF "flock $LOCK" && return 0
  done
  return 1
}

echo "== phase 1: validate on n1, n2 (slowed on purpose), n3, then the fleet"
t=$SECONDS
R1="$T/phase1"
RESULTS_DIR="$R1" HOTPATH_CI_SLOW_NODE=n2 scripts/slurm/submit.sh --wait -- --nodes=3 --time=00:20:00 &
submit=$!
set +e
wait "$submit"
rc=$?
set -e
submit=
cat "$R1/fleet/fleet.txt"
echo "phase 1: $((SECONDS - t)) s"
[ "$rc" = 1 ] || { cat "$R1"/*.err "$R1"/slurm-*.out; fail "phase 1: the fleet job exited $rc (expected 1: n2 is slow)"; }
[ "$(tr '\n' ' ' < "$R1/expected-nodes.txt")" = "n1 n2 n3 " ] || fail "phase 1: expected-nodes.txt is not n1 n2 n3: $(cat "$R1/expected-nodes.txt")"
for n in n1 n2 n3; do
  [ -s "$R1/$n.json" ] || { ls -l "$R1"; fail "phase 1: no validate report from $n"; }
done
python3 - "$R1/fleet/fleet.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
def host(node): return node.split()[0]
assert not report.get("missing_nodes"), f"phase 1: missing nodes {report.get('missing_nodes')}"
members = [m for g in report["groups"] for m in g["members"]]
assert sorted(host(m["node"]) for m in members) == ["n1", "n2", "n3"], [m["node"] for m in members]
values = {m["node"]: m["metrics"].get("perf/copy") for m in members}
slow = [host(n) for n in report["slow_nodes"]]
assert slow == ["n2"], f"phase 1: slow nodes {report['slow_nodes']} (expected n2 only); perf/copy B/s: {values}"
out = [o for g in report["groups"] for o in g["outliers"] if host(o["node"]) == "n2"]
assert any(o["metric"] == "perf/copy" and o["direction"] == "slow" for o in out), out
o = next(o for o in out if o["metric"] == "perf/copy")
print(f"ok: n2 flagged slow on perf/copy ({o['delta_pct']:+.1f} %); slow nodes: {report['slow_nodes']}")
PY
check_exports "$R1"/n1.prom "$R1"/n2.prom "$R1"/n3.prom "$R1"/n1.xml "$R1"/n2.xml "$R1"/n3.xml \
  "$R1/fleet/fleet.prom" "$R1/fleet/fleet.xml"

echo "== phase 2: validate on n1, n2, n3 against phase 1's baseline; n3 dies mid-job"
t=$SECONDS
R2="$T/phase2"
# Hold the nodes' lock while the job starts, so n3 dies at a known point: its task started
# and waiting its turn, no report written (a report half written is another test).
exec 9> "$LOCK"
flock 9
# k = 10, not 3: phase 2 runs minutes after its baseline, whose spread is often at its 1 %
# floor (three quiet runs agree closely), so k = 3 would flag a node 3 % below phase 1's
# median; runs of one node minutes apart differed by up to 4.7 % here. With k = 10 a node 10 %
# below the baseline's median is slow (nothing is when the baseline's spread is at its 10 %
# cap). It does not cover the 8-or-27 GB/s swing above: a baseline of two 27 GB/s runs and an
# 8 GB/s run here flag that node.
RESULTS_DIR="$R2" FLEET_BASELINE="$R1/fleet/fleet.json" FLEET_K=10 \
  scripts/slurm/submit.sh --wait -- --nodes=3 --time=00:20:00 9>&- > "$T/phase2-submit.out" 2>&1 &
submit=$!
for _ in $(seq 1 600); do
  ns_has_wrapper n1 && ns_has_wrapper n2 && ns_has_wrapper n3 && break
  kill -0 "$submit" 2>/dev/null || break
  sleep 0.1
done
ns_has_wrapper n3 || { cat "$T/phase2-submit.out"; fail "phase 2: n3's validate task never started"; }
squeue
echo "n3's validate task is running (waiting its turn); killing every process of n3: $(ip netns pids n3 | xargs ps -o comm= -p | sort | uniq -c | awk '{printf "%s %s, ", $1, $2}')"
t_kill=$SECONDS
bash scripts/slurm/ci-cluster.sh kill n3
# Slurm declares n3 DOWN after SlurmdTimeout (10 s); only then do n1 and n2 go on (the lock),
# so the fleet job cannot be placed on the dead node before Slurm knows it is dead.
for _ in $(seq 1 60); do
  case "$(sinfo -h -n n3 -o %T)" in down*) break ;; esac
  sleep 1
done
state=$(sinfo -h -n n3 -o %T)
case "$state" in down*) ;; *) fail "phase 2: n3 is $state $((SECONDS - t_kill)) s after it died (expected down)";; esac
echo "n3 is $state $((SECONDS - t_kill)) s after it died"
sinfo -N
flock -u 9
exec 9>&-
set +e
wait "$submit"
rc=$?
set -e
submit=
cat "$T/phase2-submit.out"
cat "$R2/fleet/fleet.txt"
echo "phase 2: $((SECONDS - t)) s"
[ "$rc" = 1 ] || { cat "$R2"/*.err "$R2"/slurm-*.out; fail "phase 2: the fleet job exited $rc (expected 1: n3 is missing)"; }
[ "$(tr '\n' ' ' < "$R2/expected-nodes.txt")" = "n1 n2 n3 " ] || fail "phase 2: expected-nodes.txt is not n1 n2 n3"
for n in n1 n2; do
  [ -s "$R2/$n.json" ] || { ls -l "$R2"; cat "$R2"/slurm-*.out; fail "phase 2: no validate report from $n (the job must go on without n3)"; }
done
[ ! -e "$R2/n3.json" ] || fail "phase 2: n3 wrote a report although it died before its turn"
python3 - "$R2/fleet/fleet.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
def host(node): return node.split()[0]
assert report.get("missing_nodes") == ["n3"], f"phase 2: missing_nodes {report.get('missing_nodes')} (expected ['n3'])"
members = [m for g in report["groups"] for m in g["members"]]
assert sorted(host(m["node"]) for m in members) == ["n1", "n2"], [m["node"] for m in members]
copy = [m for g in report["groups"] for m in g["metrics"] if m["name"] == "perf/copy"]
assert copy and copy[0].get("from_baseline") and copy[0]["low"] is not None, \
    f"phase 2: perf/copy of two nodes was not judged against the baseline: {copy}"
assert report.get("baseline"), "phase 2: the report names no baseline"
assert not report["slow_nodes"], f"phase 2: slow nodes {report['slow_nodes']} (nothing is slowed in phase 2)"
print(f"ok: n3 missing; n1 and n2 judged against the baseline (perf/copy slow below "
      f"{copy[0]['low'] / 1e9:.2f} GB/s), neither slow")
PY
check_exports "$R2"/n1.prom "$R2"/n2.prom "$R2"/n1.xml "$R2"/n2.xml \
  "$R2/fleet/fleet.prom" "$R2/fleet/fleet.xml"

if [ -n "${HOTPATH_SLURM_EXAMPLE_DIR:-}" ]; then
  mkdir -p "$HOTPATH_SLURM_EXAMPLE_DIR"
  for p in 1 2; do
    R="$T/phase$p"
    cp "$R/fleet/fleet.txt" "$HOTPATH_SLURM_EXAMPLE_DIR/phase$p-fleet.txt"
    cp "$R/fleet/fleet.json" "$HOTPATH_SLURM_EXAMPLE_DIR/phase$p-fleet.json"
  done
  echo "fleet reports copied to $HOTPATH_SLURM_EXAMPLE_DIR"
fi
echo "slurm self-test passed in $((SECONDS - t_all)) s"
