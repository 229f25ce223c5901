#!/usr/bin/env bash
# Install the system packages the integration tests use (real Slurm + munge, headless Chromium),
# only when they are absent and we may use apt, and start the one-node Slurm cluster. Tests that
# need them skip with a reason otherwise.
set -u
need=()
command -v slurmctld >/dev/null 2>&1 || need+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || need+=(munge)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
start_slurm() {
  # With slurm-wlm installed but no controller, every Snakemake start (the slurm executor plugin
  # queries the cluster on import) waits ~9 s for a connection: run the one-node test cluster.
  if [ "$(id -u)" -eq 0 ] && command -v slurmctld >/dev/null 2>&1; then
    bash "$(dirname "$0")/../slurm/start_cluster.sh" >/dev/null 2>&1 \
      || echo "system-deps: could not start the test Slurm cluster; Slurm tests will say why"
  fi
}
if [ ${#need[@]} -eq 0 ]; then start_slurm; exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not root or no apt-get; tests needing ${need[*]} will be skipped"
  exit 0
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  || echo "system-deps: apt-get install ${need[*]} failed; dependent tests will be skipped"
start_slurm
exit 0
