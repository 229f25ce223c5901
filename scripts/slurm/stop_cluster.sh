#!/usr/bin/env bash
# Stop what scripts/slurm/start_cluster.sh started (slurmd, slurmctld, munged), by pid file.
# Keeps the config, munge key and state, so start_cluster.sh brings the same cluster back.
set -uo pipefail
STATE=${WINDRISK_SLURM_STATE:-/var/lib/windrisk-slurm}

stop_pidfile() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

stop_pidfile "$STATE/slurmd.pid"
stop_pidfile "$STATE/slurmctld.pid"
stop_pidfile /run/munge/munged.pid
echo "stop_cluster: stopped"
