#!/bin/bash
# Stage 1 of UniMuMo training (recipe stage1_motion): motion next-token prediction, most weights frozen.
# The first stage of the chain (unimumo-train --list-stages): starts from the MusicGen directory in
# UNIMUMO_MUSICGEN (or the checkpoint in UNIMUMO_INIT_FROM); the trainer
# refuses to freeze random weights unless told to (--set init.random=true).
#
#   sbatch slurm/stage1_motion.sh [unimumo-train arguments, e.g. --set steps=20000]
#   bash slurm/stage1_motion.sh --help
#
# Submit from the repository root. Every #SBATCH value in this script is a default: sbatch flags override it
# (e.g. sbatch --nodes=4 --time=2-00:00:00 slurm/stage1_motion.sh; on CPUs only:
# sbatch --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1 slurm/stage1_motion.sh).
# Paths, DeepSpeed config and recipe overrides come from UNIMUMO_* variables, see slurm/env.sh.
# USR1 (sent 120 s before the time limit) makes the trainer checkpoint; the job requeues and resumes.
#SBATCH --job-name=unimumo-stage1
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
unimumo_stage stage1_motion "$@"  # starts from the export of the stage the registry names (unimumo-train --list-stages)
