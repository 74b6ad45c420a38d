#!/bin/bash
# Shard building as a Slurm job array: array task I of N runs `unimumo-shards build --slice I/N` for every split in
# UNIMUMO_SPLITS, writing UNIMUMO_SHARDS/slices/I-of-N (disjoint, deterministic slices of each split's plan;
# a requeued or resubmitted task resumes its own slice). Then `merge` combines the slices into UNIMUMO_SHARDS.
#
#   sbatch --array=0-7 slurm/build_shards.sh --music4all DIR --aist DIR [--humanml3d DIR] --music-codec DIR \
#       --motion-tokenizer DIR --text-tokenizer FILE [other `unimumo-shards build` arguments]
#   sbatch --dependency=afterok:<array job id> slurm/build_shards.sh merge
#   bash slurm/build_shards.sh --help
#
# The array's size is the number of slices N (--array=0-7: 8 slices; any contiguous range of step 1 works).
# Every array task and a resubmission must use the same build arguments (checked: --resume refuses a changed plan,
# merge refuses slices built differently). The music codec and the motion tokenizer run on the GPU (--device cuda)
# when the allocation has one, else on the CPU; decoding, beat tracking and pairing use UNIMUMO_BUILD_WORKERS processes.
# Every #SBATCH value in this script is a default: sbatch flags override it
# (e.g. on CPUs only: sbatch --array=0-31 --gpus-per-node=0 --cpus-per-task=8 slurm/build_shards.sh ...).
# Variables (besides those of slurm/env.sh below):
#   UNIMUMO_SPLITS         splits each task builds           (default: "train val test")
#   UNIMUMO_BUILD_WORKERS  --workers of each build           (default: SLURM_CPUS_PER_TASK - 1, at least 1)
#SBATCH --job-name=unimumo-shards
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --time=12:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=slurm/logs/%x-%A_%a.out

UNIMUMO_ROOT=${UNIMUMO_ROOT:-${SLURM_SUBMIT_DIR:-$(cd "$(dirname "$0")/.." && pwd)}}
[ -f "$UNIMUMO_ROOT/slurm/env.sh" ] \
  || { echo "[unimumo-slurm] ERROR: no slurm/env.sh under $UNIMUMO_ROOT; submit from the repository root or set UNIMUMO_ROOT" >&2; exit 1; }
# shellcheck source=env.sh
source "$UNIMUMO_ROOT/slurm/env.sh"
unimumo_help "$0" "$@"
unimumo_setup
command -v unimumo-shards >/dev/null || _unimumo_die "unimumo-shards is not on PATH; install the package or set UNIMUMO_VENV"

if [ "${1:-}" = merge ]; then
  _unimumo_log "job $SLURM_JOB_ID: unimumo-shards merge $UNIMUMO_SHARDS"
  exec unimumo-shards merge "$UNIMUMO_SHARDS"
fi

[ -n "${SLURM_ARRAY_TASK_ID:-}" ] \
  || _unimumo_die "submit as a job array, one task per slice: sbatch --array=0-<N-1> $0 ..."
count=${SLURM_ARRAY_TASK_COUNT:-}
[ -n "$count" ] && [ $((SLURM_ARRAY_TASK_MAX - SLURM_ARRAY_TASK_MIN + 1)) = "$count" ] \
  || _unimumo_die "the array must be a contiguous range of step 1 (e.g. --array=0-7), got" \
       "min ${SLURM_ARRAY_TASK_MIN:-?} max ${SLURM_ARRAY_TASK_MAX:-?} count ${count:-?}"
slice="$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN))/$count"
device=cpu
[ "$UNIMUMO_DEVICE" = gpu ] && device=cuda
cpus=${SLURM_CPUS_PER_TASK:-1}
workers=${UNIMUMO_BUILD_WORKERS:-$(( cpus > 1 ? cpus - 1 : 1 ))}

status=0
for split in ${UNIMUMO_SPLITS:-train val test}; do
  args=("$@" --out "$UNIMUMO_SHARDS" --split "$split" --slice "$slice" --device "$device" --workers "$workers"
        --resume --no-progress)
  _unimumo_log "job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} (restart ${SLURM_RESTART_COUNT:-0}): slice $slice" \
    "of $split on $(hostname -s) [$device]: unimumo-shards build ${args[*]}"
  unimumo-shards build "${args[@]}"
  rc=$?
  case $rc in
    0) ;;
    2) _unimumo_log "slice $slice of $split: too many failed inputs (exit 2), shards written; see" \
         "$UNIMUMO_SHARDS/slices/${slice%/*}-of-$count/failures.jsonl"; status=2 ;;
    *) _unimumo_die "unimumo-shards build of slice $slice of $split failed with exit code $rc" ;;
  esac
done
[ "$status" = 0 ] && _unimumo_log "slice $slice finished: $UNIMUMO_SHARDS/slices/${slice%/*}-of-$count;" \
  "merge with: sbatch --dependency=afterok:$SLURM_ARRAY_JOB_ID slurm/build_shards.sh merge"
exit "$status"
