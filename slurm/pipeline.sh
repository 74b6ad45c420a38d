#!/bin/bash
# Submit both UniMuMo training stages as a chain: stage 2 starts only after stage 1 succeeded
# (--dependency=afterok) and initialises from stage 1's export.
#
#   bash slurm/pipeline.sh [sbatch flags applied to both jobs]
#   e.g. bash slurm/pipeline.sh --partition=gpu --account=myproject
#        bash slurm/pipeline.sh --nodes=1 --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1  # CPU-only
#
# UNIMUMO_* variables (see slurm/env.sh) reach both jobs. The run directories are
# $UNIMUMO_RUNS/stage1_motion and $UNIMUMO_RUNS/stage2_joint, so UNIMUMO_OUT and UNIMUMO_INIT_FROM must
# stay unset. STAGE1_SBATCH_ARGS / STAGE2_SBATCH_ARGS add flags to one stage only (e.g. "--nodes=4").
# Prints the two job ids.
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
  exit 0
fi
cd "$(dirname "$0")/.."
if [ -n "${UNIMUMO_OUT:-}${UNIMUMO_INIT_FROM:-}" ]; then
  echo "pipeline.sh: unset UNIMUMO_OUT / UNIMUMO_INIT_FROM; the stages' run directories come from UNIMUMO_RUNS" >&2
  exit 2
fi
unset UNIMUMO_STAGE1_OUT
# shellcheck disable=SC2086  # the per-stage variables hold several flags
stage1=$(sbatch --parsable "$@" ${STAGE1_SBATCH_ARGS:-} slurm/stage1_motion.sh)
# shellcheck disable=SC2086
stage2=$(sbatch --parsable --dependency="afterok:${stage1%%;*}" --kill-on-invalid-dep=yes \
  "$@" ${STAGE2_SBATCH_ARGS:-} slurm/stage2_joint.sh)
echo "stage1_motion job ${stage1%%;*}"
echo "stage2_joint job ${stage2%%;*} (starts after ${stage1%%;*} succeeds)"
