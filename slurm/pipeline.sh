#!/bin/bash
# Submit the three UniMuMo training stages as a chain: stage 1 (motion, from MusicGen), stage 2 (joint, from
# stage 1's export) and the caption stage (from stage 2's export); each starts only after the one before it
# succeeded (--dependency=afterok).
#
#   UNIMUMO_MUSICGEN=models/musicgen-small bash slurm/pipeline.sh [sbatch flags applied to every job]
#   e.g. bash slurm/pipeline.sh --partition=gpu --account=myproject
#        bash slurm/pipeline.sh --nodes=1 --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1  # CPU-only
#
# UNIMUMO_* variables (see slurm/env.sh) reach every job. Stage 1 starts from UNIMUMO_MUSICGEN (or
# UNIMUMO_INIT_FROM, which here means stage 1's start only); one of them is required unless UNIMUMO_OVERRIDES
# holds init.random=true. The run directories are $UNIMUMO_RUNS/{stage1_motion,stage2_joint,caption}, so
# UNIMUMO_OUT must stay unset. STAGE1_SBATCH_ARGS / STAGE2_SBATCH_ARGS / CAPTION_SBATCH_ARGS add flags to one
# stage only (e.g. "--nodes=4"). Prints the three job ids.
set -euo pipefail
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
  exit 0
fi
cd "$(dirname "$0")/.."
if [ -n "${UNIMUMO_OUT:-}" ]; then
  echo "pipeline.sh: unset UNIMUMO_OUT; the stages' run directories come from UNIMUMO_RUNS" >&2
  exit 2
fi
start=${UNIMUMO_INIT_FROM:-${UNIMUMO_MUSICGEN:-}}
if [ -n "$start" ]; then
  [ -f "$start/config.json" ] || { echo "pipeline.sh: no checkpoint at $start (config.json missing)" >&2; exit 2; }
elif [[ " ${UNIMUMO_OVERRIDES:-} " != *" init.random=true "* ]]; then
  echo "pipeline.sh: stage 1 trains on top of a pretrained MusicGen: set UNIMUMO_MUSICGEN to a local MusicGen" \
    "directory (or UNIMUMO_OVERRIDES=\"init.random=true\" to train on random weights on purpose)" >&2
  exit 2
fi
export UNIMUMO_MUSICGEN=$start  # stage 1 only; the later stages start from the export before them
unset UNIMUMO_INIT_FROM UNIMUMO_STAGE1_OUT UNIMUMO_STAGE2_OUT
# shellcheck disable=SC2086  # the per-stage variables hold several flags
stage1=$(sbatch --parsable "$@" ${STAGE1_SBATCH_ARGS:-} slurm/stage1_motion.sh)
stage1=${stage1%%;*}
# shellcheck disable=SC2086
stage2=$(sbatch --parsable --dependency="afterok:$stage1" --kill-on-invalid-dep=yes \
  "$@" ${STAGE2_SBATCH_ARGS:-} slurm/stage2_joint.sh)
stage2=${stage2%%;*}
# shellcheck disable=SC2086
caption=$(sbatch --parsable --dependency="afterok:$stage2" --kill-on-invalid-dep=yes \
  "$@" ${CAPTION_SBATCH_ARGS:-} slurm/stage3_caption.sh)
echo "stage1_motion job $stage1"
echo "stage2_joint job $stage2 (starts after $stage1 succeeds)"
echo "caption job ${caption%%;*} (starts after $stage2 succeeds)"
