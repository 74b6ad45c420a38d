#!/bin/bash
# Any stage of the registry (unimumo-train --list-stages) as one Slurm job: the stage is the first argument.
# slurm/pipeline.sh submits it for a stage of the chain that has no script of its own; it starts from the
# export of the stage it starts from, as the stage scripts do.
#
#   sbatch --job-name=unimumo-STAGE slurm/train_stage.sh STAGE [unimumo-train arguments, e.g. --set steps=1000]
#   bash slurm/train_stage.sh --help
#
# Submit from the repository root. Every #SBATCH value in this script is a default: sbatch flags override it.
# Paths, DeepSpeed config and recipe overrides come from UNIMUMO_* variables, see slurm/env.sh.
# USR1 (sent 120 s before the time limit) makes the trainer checkpoint; the job requeues and resumes.
#SBATCH --job-name=unimumo-train
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
[ -n "${1:-}" ] || _unimumo_die "give the stage to train as the first argument (unimumo-train --list-stages)"
unimumo_setup
stage=$1; shift
unimumo_stage "$stage" "$@"
