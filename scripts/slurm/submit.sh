#!/usr/bin/env bash
# Submits the fleet validation: validate.sbatch on the nodes asked for, then fleet.sbatch
# once it ends however it ends (afterany). Prints both job ids. With --wait, blocks until
# the fleet report exists and exits with its status (0 fleet healthy, 1 a node slow or
# failed, 2 an error).
#
#   RESULTS_DIR=/shared/hotpath/validate/$(date -u +%F) scripts/slurm/submit.sh \
#     [--wait] -- --nodes=64 --gpus-per-node=8 --partition=gpu
#
# Arguments after -- go to the validate job's sbatch (nodes, partition, account, ...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wait_for_fleet=0
while [ $# -gt 0 ]; do
  case "$1" in
    --wait) wait_for_fleet=1; shift ;;
    --) shift; break ;;
    *) echo "error: unknown argument '$1'; accepted: --wait, then -- and sbatch options" >&2; exit 2 ;;
  esac
done
: "${RESULTS_DIR:?set RESULTS_DIR to a directory every node can write}"
export RESULTS_DIR
mkdir -p "$RESULTS_DIR"

validate_job=$(sbatch --parsable --output="$RESULTS_DIR/slurm-validate-%j.out" "$@" "$here/validate.sbatch")
echo "validate job: $validate_job"
fleet_args=(--parsable --dependency="afterany:${validate_job%%;*}" --output="$RESULTS_DIR/slurm-fleet-%j.out")
if [ "$wait_for_fleet" = 1 ]; then
  set +e
  sbatch "${fleet_args[@]}" --wait "$here/fleet.sbatch"
  rc=$?
  set -e
  echo "fleet job ended with $rc; report: $RESULTS_DIR/fleet/fleet.txt"
  exit "$rc"
fi
fleet_job=$(sbatch "${fleet_args[@]}" "$here/fleet.sbatch")
echo "fleet job: $fleet_job (report: $RESULTS_DIR/fleet/fleet.txt)"
