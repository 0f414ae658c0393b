#!/usr/bin/env bash
# A three-node Slurm cluster on this one machine, for CI: nodes n1, n2 and n3, each a
# slurmd in its own network namespace (its own address on a bridge) and its own UTS
# namespace (its host name is the node name, so `hostname` in a job and hotpath's report
# say n1, n2, n3), and one slurmctld in the root namespace on the bridge's address.
#
#   scripts/slurm/ci-cluster.sh up        # prints `export SLURM_CONF=...` last
#   scripts/slurm/ci-cluster.sh down      # stops and removes everything `up` made
#   scripts/slurm/ci-cluster.sh kill n3   # kills every process of node n3 (a dead node)
#   scripts/slurm/ci-cluster.sh status
#
# Everything lives in one private directory (HOTPATH_SLURM_CLUSTER_DIR, default
# /run/hotpath-slurm3): slurm.conf (Slurm's commands read it through SLURM_CONF; no file
# under /etc is written), per-node spool, pid and log files (%n), the state, and a private
# munged with its own key and socket (AuthInfo=socket=...): a socket is a file, so the one
# munged serves every namespace, and a munged the machine may already run is left alone.
# Network: bridge hpslurm0 with 10.77.0.1/24 (HOTPATH_SLURM_NET=10.77.0 to change), node nX
# at 10.77.0.1X through a veth pair. SlurmdTimeout is 10 s, so a node whose processes die is
# declared DOWN within about 20 s.
# Root only; needs slurm-wlm, munge, iproute2 and util-linux (unshare).
set -euo pipefail

DIR="${HOTPATH_SLURM_CLUSTER_DIR:-/run/hotpath-slurm3}"
NET="${HOTPATH_SLURM_NET:-10.77.0}"
BRIDGE=hpslurm0
NODES=(n1 n2 n3)
CONF="$DIR/slurm.conf"

die() { echo "ci-cluster: error: $*" >&2; exit 2; }
log() { echo "ci-cluster: $*" >&2; }

node_addr() { echo "$NET.1${1#n}"; }

# kill_pids TENTHS PID...: TERM, then KILL whatever still runs after TENTHS tenths of a second.
kill_pids() {
  local tenths=$1; shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 1 "$tenths"); do
    local alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}

# Every process of a node: all that run in its network namespace (slurmd, slurmstepd, the
# job's tasks). Killed at once (KILL): a node that dies does not shut down cleanly.
kill_node() {
  local n=$1 pids
  ip netns list 2>/dev/null | grep -qw "^$n" || return 0
  for _ in 1 2 3; do
    pids=$(ip netns pids "$n" 2>/dev/null || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.2
  done
}

pid_of() { if [ -s "$1" ]; then cat "$1"; fi; }

down() {
  local p pids=()
  # The controller and every process of every node (slurmd, slurmstepd, jobs' tasks) at
  # once: TERM, then KILL what is left after 3 s. Nothing here is kept, so nothing needs a
  # slow orderly shutdown (one slurmd alone takes ~2 s to stop once the controller is gone).
  p=$(pid_of "$DIR/run/slurmctld.pid")
  [ -n "$p" ] && pids+=("$p")
  for n in "${NODES[@]}"; do
    ip netns list 2>/dev/null | grep -qw "^$n" || continue
    # shellcheck disable=SC2207
    pids+=($(ip netns pids "$n" 2>/dev/null || true))
  done
  kill_pids 30 "${pids[@]}"
  for n in "${NODES[@]}"; do
    ip netns list 2>/dev/null | grep -qw "^$n" || continue
    kill_node "$n"
    ip netns del "$n" 2>/dev/null || true
  done
  for n in "${NODES[@]}"; do
    ip link del "hps-$n" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  p=$(pid_of "$DIR/munge/munged.pid")
  [ -n "$p" ] && kill_pids 50 "$p"
  # `ip netns add` makes /run/netns a mount point; undo it when it was not one before and no
  # other namespace lives there now.
  if [ -f "$DIR/netns-mount-ours" ] && mountpoint -q /run/netns \
     && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
    umount /run/netns 2>/dev/null || true
    rmdir /run/netns 2>/dev/null || true
  fi
  rm -rf "$DIR"
  # What a run left behind would show here.
  local left=""
  left+=$(pgrep -a -f "slurm(ctld|d|stepd).* -f $CONF" || true)
  for n in "${NODES[@]}"; do
    ip netns list 2>/dev/null | grep -qw "^$n" && left+=" netns:$n"
  done
  ip link show "$BRIDGE" >/dev/null 2>&1 && left+=" link:$BRIDGE"
  [ -z "$left" ] || { echo "ci-cluster: down left behind: $left" >&2; return 1; }
  log "down: stopped and removed"
}

up() {
  [ "$(id -u)" = 0 ] || die "the cluster starts slurmctld, slurmd and munged and makes network namespaces: run as root"
  for c in slurmctld slurmd munged ip unshare nsenter; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (apt-get install slurm-wlm munge iproute2 util-linux)"
  done
  [ ! -e "$DIR" ] || die "$DIR exists: the cluster is up or was not taken down; run '$0 down' first"
  for n in "${NODES[@]}"; do
    ! ip netns list 2>/dev/null | grep -qw "^$n" || die "network namespace $n exists already"
  done
  ! ip link show "$BRIDGE" >/dev/null 2>&1 || die "link $BRIDGE exists already"
  if ip -4 route show | grep -q "^$NET\.0/"; then die "$NET.0/24 is routed here already; set HOTPATH_SLURM_NET"; fi

  local t0 ctl cpus mem
  t0=$(date +%s.%N)
  mkdir -p "$DIR"/{run,log,state,munge,spool}
  chmod 755 "$DIR" "$DIR/spool"
  mountpoint -q /run/netns 2>/dev/null || touch "$DIR/netns-mount-ours"

  # munge: a private daemon with its own key and socket.
  chmod 755 "$DIR/munge"
  dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1 count=1024 status=none
  chmod 400 "$DIR/munge/munge.key"
  munged --force --socket="$DIR/munge/socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
    --seed-file="$DIR/munge/munged.seed"

  # The network: a bridge in the root namespace, one namespace and veth pair per node.
  ip link add "$BRIDGE" type bridge
  ip addr add "$NET.1/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for n in "${NODES[@]}"; do
    ip netns add "$n"
    ip link add "hps-$n" type veth peer name eth0 netns "$n"
    ip link set "hps-$n" master "$BRIDGE" up
    ip -n "$n" addr add "$(node_addr "$n")/24" dev eth0
    ip -n "$n" link set lo up
    ip -n "$n" link set eth0 up
  done

  ctl=$(hostname -s)
  cpus=$(nproc)
  # Each node reports the whole machine; give each a third of its memory.
  mem=$(( $(free -m | awk '/Mem:/{print $2}') / 3 ))
  {
    cat <<CONF
# Written by scripts/slurm/ci-cluster.sh: three slurmd in network namespaces of one machine.
ClusterName=hotpath-ci3
SlurmctldHost=$ctl($NET.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmdSpoolDir=$DIR/spool/%n
StateSaveLocation=$DIR/state
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
# A node that stops answering is DOWN after 10 s (the controller pings every 3 s or so).
SlurmdTimeout=10
SlurmctldTimeout=10
MessageTimeout=5
KillWait=5
InactiveLimit=0
ReturnToService=2
CONF
    for n in "${NODES[@]}"; do
      echo "NodeName=$n NodeAddr=$(node_addr "$n") NodeHostname=$n CPUs=$cpus RealMemory=$mem State=UNKNOWN"
    done
    echo "PartitionName=ci Nodes=$(IFS=,; echo "${NODES[*]}") Default=YES MaxTime=INFINITE State=UP"
  } > "$CONF"
  export SLURM_CONF="$CONF"

  slurmctld -f "$CONF" -i
  for n in "${NODES[@]}"; do
    mkdir -p "$DIR/spool/$n"
    # The node's own host name, in its own UTS namespace; slurmd daemonises inside both.
    # nsenter, not `ip netns exec`: that one mounts a fresh /sys in a new mount namespace,
    # without /sys/fs/cgroup, and Debian's slurmd 22.05 will not start without it.
    nsenter --net="/run/netns/$n" unshare --uts sh -c "hostname $n && exec slurmd -f '$CONF' -N $n"
  done

  local idle=0
  for _ in $(seq 1 120); do
    idle=$(sinfo -h -N -t idle -o '%N' 2>/dev/null | sort -u | wc -l)
    [ "$idle" = "${#NODES[@]}" ] && break
    sleep 0.5
  done
  if [ "$idle" != "${#NODES[@]}" ]; then
    sinfo -N -l >&2 || true
    tail -n 20 "$DIR"/log/*.log >&2 || true
    die "only $idle of ${#NODES[@]} nodes came up idle in 60 s"
  fi
  log "up: ${#NODES[@]} nodes idle in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
  sinfo -N >&2
  echo "export SLURM_CONF=$CONF"
}

up_failed() {
  local rc=$?
  [ "$rc" = 0 ] && return 0
  log "bring-up failed (exit $rc); the logs, then taking it down:"
  tail -n 15 "$DIR"/log/*.log "$DIR"/munge/munged.log >&2 2>/dev/null || true
  down || true
  exit "$rc"
}

case "${1:-}" in
  up)
    # A failed bring-up takes down what it made.
    trap 'up_failed' EXIT
    up
    trap - EXIT ;;
  down) down ;;
  kill)
    [ -n "${2:-}" ] || die "usage: $0 kill NODE"
    kill_node "$2"; log "killed every process of node $2" ;;
  status)
    SLURM_CONF="$CONF" sinfo -N
    for n in "${NODES[@]}"; do echo "$n: $(ip netns pids "$n" 2>/dev/null | wc -l) process(es)"; done ;;
  *) echo "usage: $0 up|down|kill NODE|status" >&2; exit 2 ;;
esac
