# Shared environment and launch logic of the UniMuMo Slurm scripts (sourced by the stage scripts inside the job;
# not a job script itself). Which stage a stage starts from comes from the stage registry
# (`unimumo-train --list-stages`), never from these scripts.
#
# Environment variables (all optional; sbatch exports the submitting shell's environment to the job):
#   UNIMUMO_ROOT        repository checkout                 (default: the directory sbatch was run from)
#   UNIMUMO_VENV        virtualenv to activate               (default: $UNIMUMO_ROOT/.venv when present)
#   UNIMUMO_SHARDS      shard directory                      (default: $UNIMUMO_ROOT/shards)
#   UNIMUMO_RUNS        parent directory of run directories  (default: $UNIMUMO_ROOT/runs)
#   UNIMUMO_OUT         this stage's run directory           (default: $UNIMUMO_RUNS/<recipe>)
#   UNIMUMO_MUSICGEN    local MusicGen directory the first stage of the chain starts from (e.g.
#                       facebook/musicgen-small saved with save_pretrained; full or decoder-only)
#   UNIMUMO_INIT_FROM   checkpoint this stage starts from, overriding the default: UNIMUMO_MUSICGEN for the
#                       first stage, else the export of the stage it starts from
#   UNIMUMO_STAGE<N>_OUT  run directory of the chain's N-th stage, where the next one finds its export
#                       (UNIMUMO_STAGE1_OUT, UNIMUMO_STAGE2_OUT; default: $UNIMUMO_RUNS/<recipe>)
#   UNIMUMO_TEXT_MODEL, UNIMUMO_DS_CONFIG, UNIMUMO_OVERRIDES, ...  read by unimumo-train itself: see
#                       `unimumo-train --help` (a flag's "env" variable; UNIMUMO_OVERRIDES holds
#                       whitespace-separated overrides, e.g. "steps=1000 optim.lr=1e-4")
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
  export UNIMUMO_SHARDS=${UNIMUMO_SHARDS:-$UNIMUMO_ROOT/shards}  # unimumo-train reads it
  UNIMUMO_RUNS=${UNIMUMO_RUNS:-$UNIMUMO_ROOT/runs}
}

# The stage registry, one line per stage: NAME STARTS_FROM ("-": none), each after the stage it starts from.
unimumo_list_stages() {
  python -m unimumo.cli.train --list-stages || _unimumo_die "cannot list the stages with $(command -v python)"
}

# Print the 1-based position of STAGE in the chain of LIST (the output of unimumo_list_stages): the stages that
# start from one or that one starts from, in order. Prints nothing when STAGE is not in the chain.
unimumo_chain_position() {
  local stage=$1 list=$2
  awk -v stage="$stage" '{ name[NR] = $1; from[NR] = $2; if ($2 != "-") started[$2] = 1 }
    END { for (i = 1; i <= NR; i++) if (from[i] != "-" || started[name[i]]) { n++; if (name[i] == stage) print n } }' \
    <<< "$list"
}

# Run STAGE (unimumo_train) from where the registry says it starts: a stage that starts from another takes that
# stage's export ($UNIMUMO_STAGE<N>_OUT/export, N its position in the chain, or $UNIMUMO_RUNS/<that stage>/export),
# the chain's first stage UNIMUMO_MUSICGEN; UNIMUMO_INIT_FROM overrides either. Extra arguments go to unimumo-train.
unimumo_stage() {
  local recipe=$1; shift
  local list from start
  list=$(unimumo_list_stages) || exit 1
  from=$(awk -v stage="$recipe" '$1 == stage { print $2 }' <<< "$list")
  [ -n "$from" ] || _unimumo_die "no stage $recipe in the registry; the stages: $(awk '{ printf "%s ", $1 }' <<< "$list")"
  if [ "$from" = - ] && [ -n "$(unimumo_chain_position "$recipe" "$list")" ]; then
    start=${UNIMUMO_INIT_FROM:-${UNIMUMO_MUSICGEN:-}}  # the chain's first stage
  elif [ "$from" = - ]; then
    start=${UNIMUMO_INIT_FROM:-}  # a stage outside the chain (the motion VQ-VAE)
  else
    local position out_var
    position=$(unimumo_chain_position "$from" "$list")
    out_var=UNIMUMO_STAGE${position}_OUT
    start=${UNIMUMO_INIT_FROM:-${!out_var:-$UNIMUMO_RUNS/$from}/export}
    [ -f "$start/config.json" ] || _unimumo_die "no stage-$position export at $start (config.json missing); run" \
      "$from first or set UNIMUMO_INIT_FROM"
  fi
  unimumo_train "$recipe" ${start:+--init-from "$start"} "$@"
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
  # --resume is a no-op without a checkpoint and continues the run after a requeue. The other UNIMUMO_*
  # settings (shards, text model, DeepSpeed config, overrides) reach unimumo-train through the environment.
  local args=(--recipe "$recipe" --out "$out" --resume "$@")

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
