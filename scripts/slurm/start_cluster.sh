#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for tests and trying profiles/slurm locally.
#   bash scripts/slurm/start_cluster.sh     # idempotent: safe to run again while it is up
#   bash scripts/slurm/stop_cluster.sh
# Installs slurm-wlm + munge when absent (root + apt only), creates a munge key, writes a
# one-node slurm.conf and starts munged, slurmctld and slurmd, then waits until `sinfo` shows
# the node idle. No accounting (slurmdbd): profiles/slurm reads job states with squeue, which
# keeps finished jobs for MinJobAge seconds (set high here).
# Exit codes: 0 up, 2 cannot install (not root / no apt), 1 failed to start (see the log named).
set -euo pipefail

SLURM_ETC=${SLURM_ETC:-/etc/slurm}
STATE=${WINDRISK_SLURM_STATE:-/var/lib/windrisk-slurm}
LOG=${STATE}/log
NODE=$(hostname -s)

say() { echo "start_cluster: $*" >&2; }

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "slurmctld/slurmd/munged missing and cannot install them (need root and apt-get)"
    exit 2
  fi
  say "installing slurm-wlm and munge with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

start_munge() {
  install -d -m 0700 -o munge -g munge /etc/munge /var/lib/munge /var/log/munge
  install -d -m 0755 -o munge -g munge /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged --force
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.1; done
    say "munged did not start; see /var/log/munge/munged.log"
    exit 1
  fi
}

write_conf() {
  local cpus mem_mb conf
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_*, which a parent may set to 1
  # Leave 10 % for the OS and the Snakemake controller.
  mem_mb=$(free -m | awk '/^Mem:/ {print int($2 * 0.9)}')
  install -d "$SLURM_ETC" "$STATE/ctld" "$STATE/d" "$LOG"
  conf=$(cat <<EOF
# Written by windrisk scripts/slurm/start_cluster.sh: one node, no accounting.
ClusterName=windrisk
SlurmctldHost=${NODE}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=${STATE}/ctld
SlurmdSpoolDir=${STATE}/d
SlurmctldPidFile=${STATE}/slurmctld.pid
SlurmdPidFile=${STATE}/slurmd.pid
SlurmctldLogFile=${LOG}/slurmctld.log
SlurmdLogFile=${LOG}/slurmd.log
# No cgroups in containers: track processes by parent pid, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Finished jobs stay visible to squeue for an hour (the plugin needs >= 120 s to use squeue).
MinJobAge=3600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=${NODE} CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=main Nodes=${NODE} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
)
  if [ ! -f "$SLURM_ETC/slurm.conf" ] || [ "$(cat "$SLURM_ETC/slurm.conf")" != "$conf" ]; then
    printf '%s\n' "$conf" > "$SLURM_ETC/slurm.conf"
    CONF_CHANGED=1
  fi
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_daemons() {
  if [ "${CONF_CHANGED:-0}" = 1 ]; then
    running "$STATE/slurmd.pid" && kill "$(cat "$STATE/slurmd.pid")" && sleep 1
    running "$STATE/slurmctld.pid" && kill "$(cat "$STATE/slurmctld.pid")" && sleep 1
  fi
  running "$STATE/slurmctld.pid" || slurmctld -f "$SLURM_ETC/slurm.conf" || { say "slurmctld failed; see $LOG/slurmctld.log"; exit 1; }
  running "$STATE/slurmd.pid" || slurmd -f "$SLURM_ETC/slurm.conf" || { say "slurmd failed; see $LOG/slurmd.log"; exit 1; }
}

wait_idle() {
  local state
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$NODE" -o '%T' 2>/dev/null || true)
    case "$state" in
      idle|mixed|allocated) say "node $NODE is $state"; return 0 ;;
      down*|drain*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
    esac
    sleep 1
  done
  say "node $NODE not idle after 60 s (state: ${state:-none}); see $LOG/slurmctld.log and $LOG/slurmd.log"
  exit 1
}

install_packages
[ "$(id -u)" -eq 0 ] || { say "must run as root to start munged/slurmctld/slurmd"; exit 2; }
start_munge
write_conf
start_daemons
wait_idle
