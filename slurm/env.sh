# Shared environment and launch logic of the UniMuMo Slurm scripts (sourced by stage1_motion.sh,
# stage2_joint.sh and stage3_caption.sh inside the job; not a job script itself).
#
# Environment variables (all optional; sbatch exports the submitting shell's environment to the job):
#   UNIMUMO_ROOT        repository checkout                 (default: the directory sbatch was run from)
#   UNIMUMO_VENV        virtualenv to activate               (default: $UNIMUMO_ROOT/.venv when present)
#   UNIMUMO_SHARDS      shard directory                      (default: $UNIMUMO_ROOT/shards)
#   UNIMUMO_RUNS        parent directory of run directories  (default: $UNIMUMO_ROOT/runs)
#   UNIMUMO_OUT         this stage's run directory           (default: $UNIMUMO_RUNS/<recipe>)
#   UNIMUMO_TEXT_MODEL  local T5 directory (--text-model)
#   UNIMUMO_MUSICGEN    local MusicGen directory stage 1 starts from (e.g. facebook/musicgen-small saved with
#                       save_pretrained; full or decoder-only)
#   UNIMUMO_INIT_FROM   checkpoint this stage starts from, overriding the default: UNIMUMO_MUSICGEN for stage 1,
#                       the stage-1 export for stage 2, the stage-2 export for the caption stage
#   UNIMUMO_STAGE1_OUT / UNIMUMO_STAGE2_OUT  run directories of stages 1 / 2 (default: $UNIMUMO_RUNS/<recipe>)
#   UNIMUMO_DS_CONFIG   DeepSpeed config: a name in ds_configs/ or a JSON path (default: the recipe's)
#   UNIMUMO_OVERRIDES   whitespace-separated recipe overrides, e.g. "steps=1000 optim.lr=1e-4"
#   MASTER_ADDR / MASTER_PORT   rendezvous (default: first node of the allocation / a port from the job id)
#   DS_ACCELERATOR      set to "cpu" (gloo) automatically when the allocation has no GPU
# Arguments given after the script name (sbatch slurm/stage1_motion.sh --set steps=10) go to unimumo-train.

_unimumo_log() { echo "[unimumo-slurm] $*"; }
_unimumo_die() { echo "[unimumo-slurm] ERROR: $*" >&2; exit 1; }

# With -h/--help as first argument: print SCRIPT's header comment and the variables above, then exit.
unimumo_help() {
  local script=$1; shift
  case "${1:-}" in -h|--help) ;; *) return 0 ;; esac
  sed -n '2,/^#SBATCH/{/^#SBATCH/d;s/^# \{0,1\}//;p}' "$script"
  echo
  sed -n '/^# Environment variables/,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"
  exit 0
}

_unimumo_has_gpu() {
  [ "${SLURM_GPUS_ON_NODE:-0}" != 0 ] || { command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q GPU; }
}

# Activate the virtualenv, pick the accelerator and derive the rendezvous from the allocation.
unimumo_setup() {
  [ -n "${SLURM_JOB_ID:-}" ] || _unimumo_die "run this script with sbatch (no SLURM_JOB_ID in the environment)"
  cd "$UNIMUMO_ROOT" || _unimumo_die "cannot enter UNIMUMO_ROOT=$UNIMUMO_ROOT"
  local venv=${UNIMUMO_VENV:-$UNIMUMO_ROOT/.venv}
  if [ -f "$venv/bin/activate" ]; then
    # shellcheck disable=SC1091
    source "$venv/bin/activate"
  elif [ -n "${UNIMUMO_VENV:-}" ]; then
    _unimumo_die "UNIMUMO_VENV=$UNIMUMO_VENV has no bin/activate"
  fi
  command -v unimumo-train >/dev/null || _unimumo_die "unimumo-train is not on PATH; install the package (scripts/install.sh) or set UNIMUMO_VENV"
  UNIMUMO_REQUEUE_EXIT_CODE=$(python -c "from unimumo.constants import REQUEUE_EXIT_CODE; print(REQUEUE_EXIT_CODE)") \
    || _unimumo_die "cannot import unimumo with $(command -v python)"

  if _unimumo_has_gpu; then
    UNIMUMO_DEVICE=gpu
  else
    UNIMUMO_DEVICE=cpu
    export DS_ACCELERATOR=${DS_ACCELERATOR:-cpu}
  fi
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
  export MASTER_ADDR=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}
  # A fresh port per (job, restart): a requeued job never meets the previous run's sockets.
  export MASTER_PORT=${MASTER_PORT:-$((20000 + (SLURM_JOB_ID * 7 + ${SLURM_RESTART_COUNT:-0}) % 20000))}
  UNIMUMO_SHARDS=${UNIMUMO_SHARDS:-$UNIMUMO_ROOT/shards}
  UNIMUMO_RUNS=${UNIMUMO_RUNS:-$UNIMUMO_ROOT/runs}
}

# Set UNIMUMO_START to the export a stage starts from: UNIMUMO_INIT_FROM, else RUN_DIR/export of the stage
# before it (LABEL names that stage in the error when the export is missing).
unimumo_previous_export() {
  local label=$1 run_dir=$2
  UNIMUMO_START=${UNIMUMO_INIT_FROM:-$run_dir/export}
  [ -f "$UNIMUMO_START/config.json" ] \
    || _unimumo_die "no $label export at $UNIMUMO_START (config.json missing); run $label first or set UNIMUMO_INIT_FROM"
}

# Tasks of the current allocation from SLURM_TASKS_PER_NODE ("2(x3),1" -> 7). A requeued job keeps the
# submission's SLURM_NTASKS / SLURM_NTASKS_PER_NODE in its environment even when its task count was changed
# while it waited (scontrol update JobId=J NumTasks=M TasksPerNode=K), so srun is told the current ones.
_unimumo_allocated_tasks() {
  local total=0 part
  for part in ${1//,/ }; do
    if [[ $part =~ ^([0-9]+)\(x([0-9]+)\)$ ]]; then total=$((total + BASH_REMATCH[1] * BASH_REMATCH[2]))
    else total=$((total + part)); fi
  done
  echo "$total"
}

# Run `srun unimumo-train` (one rank per task) for RECIPE; extra arguments go to unimumo-train.
# A trainer that checkpointed after USR1 exits with REQUEUE_EXIT_CODE: the job then requeues itself,
# and the requeued run resumes from OUT/checkpoints/latest.
unimumo_train() {
  local recipe=$1; shift
  SLURM_NTASKS=$(_unimumo_allocated_tasks "$SLURM_TASKS_PER_NODE")
  export SLURM_NTASKS SLURM_NPROCS=$SLURM_NTASKS
  if [[ $SLURM_TASKS_PER_NODE =~ ^([0-9]+)(\(x[0-9]+\))?$ ]]; then export SLURM_NTASKS_PER_NODE=${BASH_REMATCH[1]}
  else unset SLURM_NTASKS_PER_NODE; fi
  local out=${UNIMUMO_OUT:-$UNIMUMO_RUNS/$recipe}
  # --resume is a no-op without a checkpoint and continues the run after a requeue.
  local args=(--recipe "$recipe" --shards "$UNIMUMO_SHARDS" --out "$out" --resume)
  [ -n "${UNIMUMO_TEXT_MODEL:-}" ] && args+=(--text-model "$UNIMUMO_TEXT_MODEL")
  [ -n "${UNIMUMO_DS_CONFIG:-}" ] && args+=(--ds-config "$UNIMUMO_DS_CONFIG")
  local kv overrides
  read -r -a overrides <<< "${UNIMUMO_OVERRIDES:-}"  # split on whitespace, no glob expansion
  for kv in "${overrides[@]}"; do args+=(--set "$kv"); done
  args+=("$@")

  _unimumo_log "job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}): $recipe with ${SLURM_NTASKS} ranks" \
    "on ${SLURM_JOB_NODELIST} [$UNIMUMO_DEVICE], master $MASTER_ADDR:$MASTER_PORT"
  _unimumo_log "unimumo-train ${args[*]}"

  # srun runs in the background so that a USR1 sent to this batch shell (--signal=B:USR1 or
  # scancel --full) reaches the ranks too: srun forwards it to every task. The trainer's ranks leave
  # together after a final barrier; when one rank crashes, --wait ends the others 120 s later instead
  # of leaving them blocked in a collective until its timeout.
  srun --export=ALL --wait=120 unimumo-train "${args[@]}" &
  local srun_pid=$! rc
  trap 'kill -USR1 $srun_pid 2>/dev/null' USR1
  while true; do
    wait "$srun_pid"; rc=$?
    kill -0 "$srun_pid" 2>/dev/null || break  # wait returned because of a trapped signal otherwise
  done
  trap - USR1

  if [ "$rc" = "$UNIMUMO_REQUEUE_EXIT_CODE" ]; then
    _unimumo_log "trainer checkpointed after a signal (exit $rc); requeueing job $SLURM_JOB_ID"
    # Slurm makes a requeued batch job eligible again about two minutes later (Reason=BeginTime).
    scontrol requeue "$SLURM_JOB_ID" || _unimumo_die "scontrol requeue $SLURM_JOB_ID failed (submitted with --no-requeue?)"
    exit "$rc"
  fi
  [ "$rc" = 0 ] || _unimumo_die "unimumo-train failed with exit code $rc"
  _unimumo_log "$recipe finished: checkpoints in $out/checkpoints, export in $out/export"
}
