#!/bin/bash
# Stage 3 of UniMuMo training (recipe caption): the captioning attention, projection and T5 caption decoder
# learn to describe music and motion codes; everything else is frozen. Starts from the export of the stage the
# registry says it starts from (unimumo-train --list-stages): $UNIMUMO_RUNS/<that stage>/export, or
# UNIMUMO_STAGE<N>_OUT/export, or any export in UNIMUMO_INIT_FROM; its captioning attention starts as the
# trained causal self-attention.
#
#   sbatch slurm/stage3_caption.sh [unimumo-train arguments, e.g. --set steps=20000]
#   bash slurm/stage3_caption.sh --help
#
# Submit from the repository root. Every #SBATCH value in this script is a default: sbatch flags override it
# (e.g. sbatch --nodes=2 slurm/stage3_caption.sh; on CPUs only:
# sbatch --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1 slurm/stage3_caption.sh).
# Paths, DeepSpeed config and recipe overrides come from UNIMUMO_* variables, see slurm/env.sh.
# USR1 (sent 120 s before the time limit) makes the trainer checkpoint; the job requeues and resumes.
#SBATCH --job-name=unimumo-caption
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --signal=USR1@120
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=slurm/logs/%x-%j.out

UNIMUMO_ROOT=${UNIMUMO_ROOT:-${SLURM_SUBMIT_DIR:-$(cd "$(dirname "$0")/.." && pwd)}}
[ -f "$UNIMUMO_ROOT/slurm/env.sh" ] \
  || { echo "[unimumo-slurm] ERROR: no slurm/env.sh under $UNIMUMO_ROOT; submit from the repository root or set UNIMUMO_ROOT" >&2; exit 1; }
# shellcheck source=env.sh
source "$UNIMUMO_ROOT/slurm/env.sh"
unimumo_help "$0" "$@"
unimumo_setup
unimumo_stage caption "$@"  # starts from the export of the stage the registry names (unimumo-train --list-stages)
