#!/usr/bin/env bash
# Bring a real single-node Slurm cluster (munged + slurmctld + slurmd, one node with 2 CPUs)
# up or down on this machine, for the launcher tests and CI. Needs root; idempotent.
#
#   bash tests/slurm/cluster.sh up      install slurm-wlm/munge if missing, start, wait for an idle node
#   bash tests/slurm/cluster.sh down    stop the daemons this script started
#   bash tests/slurm/cluster.sh status  print daemon and node state
#
# Environment: UNIMUMO_SLURM_STATE (default /var/spool/unimumo-slurm) holds state, pid and log files;
# the configuration is written to /etc/slurm/slurm.conf so that sbatch/srun/scontrol find it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${UNIMUMO_SLURM_STATE:-/var/spool/unimumo-slurm}
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)
MUNGE_KEY=/etc/munge/munge.key
MUNGE_PID=/run/munge/munged.pid
UP_TIMEOUT_S=${UNIMUMO_SLURM_UP_TIMEOUT:-90}

log() { echo "[cluster.sh] $*" >&2; }
die() {
  log "ERROR: $*"
  for f in "$STATE/slurmctld.log" "$STATE/slurmd.log"; do
    [ -f "$f" ] && { log "--- last lines of $f"; tail -n 20 "$f" >&2; }
  done
  exit 1
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
     && command -v sbatch >/dev/null; then
    return
  fi
  [ "$(id -u)" = 0 ] || die "slurm-wlm/munge are missing and installing them needs root"
  log "installing slurm-wlm and munge with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq slurm-wlm munge >/dev/null || die "apt-get install slurm-wlm munge failed"
}

start_munge() {
  if pid_alive "$MUNGE_PID"; then return; fi
  mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
  if [ ! -s "$MUNGE_KEY" ]; then
    log "generating $MUNGE_KEY"
    dd if=/dev/urandom of="$MUNGE_KEY" bs=1024 count=1 status=none
  fi
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
  chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  chmod 0755 /run/munge
  chmod 0400 "$MUNGE_KEY"
  runuser -u munge -- munged --pid-file="$MUNGE_PID" || die "munged failed to start"
  munge -n | unmunge >/dev/null || die "munge credential round-trip failed"
}

write_config() {
  mkdir -p /etc/slurm "$STATE/slurmctld" "$STATE/slurmd"
  local new
  new=$(sed -e "s|@HOST@|$HOST|g" -e "s|@STATE@|$STATE|g" "$HERE/slurm.conf.in")
  if [ -f "$CONF" ] && [ "$new" = "$(cat "$CONF")" ]; then return; fi
  log "writing $CONF for node $HOST"
  printf '%s\n' "$new" > "$CONF"
  # Daemons started with an older configuration must pick up the new one.
  stop_slurm
}

start_slurm() {
  pid_alive "$STATE/slurmctld.pid" || slurmctld || die "slurmctld failed to start"
  pid_alive "$STATE/slurmd.pid" || slurmd || die "slurmd failed to start"
}

wait_for_idle_node() {
  local deadline=$((SECONDS + UP_TIMEOUT_S)) state=""
  while [ $SECONDS -lt $deadline ]; do
    state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
    case "$state" in
      idle|mixed|allocated|completing) log "node $HOST is $state"; return ;;
      down*|drain*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
  done
  die "node $HOST did not become idle within ${UP_TIMEOUT_S}s (last state: '${state:-unknown}')"
}

stop_daemon() {
  local name=$1 pidfile=$2 pid
  pid_alive "$pidfile" || return 0
  pid=$(cat "$pidfile")
  log "stopping $name (pid $pid)"
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

stop_slurm() {
  stop_daemon slurmd "$STATE/slurmd.pid"
  stop_daemon slurmctld "$STATE/slurmctld.pid"
}

case "${1:-}" in
  up)
    install_packages
    start_munge
    write_config
    start_slurm
    wait_for_idle_node
    ;;
  down)
    stop_slurm
    stop_daemon munged "$MUNGE_PID"
    ;;
  status)
    for d in munged:$MUNGE_PID slurmctld:$STATE/slurmctld.pid slurmd:$STATE/slurmd.pid; do
      if pid_alive "${d#*:}"; then echo "${d%%:*}: running"; else echo "${d%%:*}: stopped"; fi
    done
    sinfo 2>/dev/null || true
    ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
