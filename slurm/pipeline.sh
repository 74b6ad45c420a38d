#!/bin/bash
# Submit the stage chain of the registry (unimumo-train --list-stages: stage1_motion from MusicGen, then each
# stage from the export of the one it starts from) as Slurm jobs; each starts only after the one before it
# succeeded (--dependency=afterok). A stage runs its own script (the slurm/*.sh that ends in
# `unimumo_stage NAME`), else slurm/train_stage.sh NAME.
#
#   UNIMUMO_MUSICGEN=models/musicgen-small bash slurm/pipeline.sh [sbatch flags applied to every job]
#   e.g. bash slurm/pipeline.sh --partition=gpu --account=myproject
#        bash slurm/pipeline.sh --nodes=1 --gpus-per-node=0 --ntasks-per-node=2 --cpus-per-task=1  # CPU-only
#
# UNIMUMO_* variables (see slurm/env.sh) reach every job. The first stage starts from UNIMUMO_MUSICGEN (or
# UNIMUMO_INIT_FROM, which here means the first stage's start only); one of them is required unless
# UNIMUMO_OVERRIDES holds init.random=true. The run directories are $UNIMUMO_RUNS/<stage>, so UNIMUMO_OUT must
# stay unset. <STAGE>_SBATCH_ARGS adds flags to one stage only, e.g. STAGE1_MOTION_SBATCH_ARGS="--nodes=4" or
# CAPTION_SBATCH_ARGS (STAGE<N>_SBATCH_ARGS, N the position in the chain, is its deprecated spelling). The
# registry is read with UNIMUMO_VENV's python (default .venv), else python3. Prints one line per job.
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
python=${UNIMUMO_VENV:-.venv}/bin/python
[ -x "$python" ] || python=python3
stages=$("$python" -m unimumo.cli.train --list-stages) \
  || { echo "pipeline.sh: cannot list the stages with $python (set UNIMUMO_VENV)" >&2; exit 2; }
# the chain, in order: "NAME STARTS_FROM" of every stage that starts from one or that one starts from
chain=$(awk '{ name[NR] = $1; from[NR] = $2; if ($2 != "-") started[$2] = 1 }
  END { for (i = 1; i <= NR; i++) if (from[i] != "-" || started[name[i]]) print name[i], from[i] }' <<< "$stages")
read -r first _ <<< "$chain"

start=${UNIMUMO_INIT_FROM:-${UNIMUMO_MUSICGEN:-}}
if [ -n "$start" ]; then
  [ -f "$start/config.json" ] || { echo "pipeline.sh: no checkpoint at $start (config.json missing)" >&2; exit 2; }
elif [[ " ${UNIMUMO_OVERRIDES:-} " != *" init.random=true "* ]]; then
  echo "pipeline.sh: the first stage ($first) trains on top of a pretrained MusicGen: set UNIMUMO_MUSICGEN to a" \
    "local MusicGen directory (or UNIMUMO_OVERRIDES=\"init.random=true\" to train on random weights on purpose)" >&2
  exit 2
fi
export UNIMUMO_MUSICGEN=$start  # the first stage only; the later stages start from the export before them
unset UNIMUMO_INIT_FROM
# shellcheck disable=SC2046  # one variable name per word
unset $(compgen -v | grep -E '^UNIMUMO_STAGE[0-9]+_OUT$' || true)

declare -A job
position=0
while read -r name from; do
  position=$((position + 1))
  script=$(grep -l -E "^unimumo_stage $name( |$)" slurm/*.sh | head -n 1 || true)
  target=("$script")
  [ -n "$script" ] || target=(--job-name="unimumo-$name" slurm/train_stage.sh "$name")
  per_stage=$(tr '[:lower:]' '[:upper:]' <<< "${name}_SBATCH_ARGS")
  old=STAGE${position}_SBATCH_ARGS
  extra=${!per_stage:-}
  if [ -z "$extra" ] && [ -n "${!old:-}" ]; then
    echo "pipeline.sh: $old is deprecated; use $per_stage" >&2
    extra=${!old}
  fi
  after=()
  [ "$from" = - ] || after=(--dependency="afterok:${job[$from]}" --kill-on-invalid-dep=yes)
  # shellcheck disable=SC2086  # the per-stage variable holds several flags
  id=$(sbatch --parsable "${after[@]}" "$@" $extra "${target[@]}")
  job[$name]=${id%%;*}
  if [ "$from" = - ]; then
    echo "$name job ${job[$name]}"
  else
    echo "$name job ${job[$name]} (starts after ${job[$from]} succeeds)"
  fi
done <<< "$chain"
