"""profiles/slurm on a REAL one-node Slurm cluster (slurmctld + slurmd + munged on this machine).

scripts/slurm/start_cluster.sh installs slurm-wlm and munge when absent (root + apt only) and
starts the cluster; this test skips, saying why, only when that is impossible. It runs the demo
regions' steps through `--profile profiles/slurm` (store and outputs in the temp workdir, which
every job sees) and checks that the jobs went through sbatch: Slurm job ids in Snakemake's log,
the same ids COMPLETED in `squeue --states=all`, one Slurm log per job, and the outputs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, run_snakemake

from windrisk.paths import RunPaths

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
START = REPO / "scripts" / "slurm" / "start_cluster.sh"
STOP = REPO / "scripts" / "slurm" / "stop_cluster.sh"
REGIONS = ("y0_x0", "y1_x1")
SUBMITTED = re.compile(r"SLURM job ?id (\d+)", re.IGNORECASE)


def cluster_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    proc = subprocess.run(["sinfo", "-h"], capture_output=True, text=True, timeout=30, check=False)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def slurm_cluster() -> Iterator[None]:
    """Start the one-node cluster (skip with the script's reason if impossible); stop it after
    the tests unless it was already running."""
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        pytest.skip("no Slurm (slurmctld) on this machine and no apt-get to install it")
    was_up = cluster_is_up()
    proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode == 2:
        pytest.skip(f"cannot set up Slurm here: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"start_cluster.sh failed:\n{proc.stdout}\n{proc.stderr}"
    yield
    if not was_up:
        subprocess.run(["bash", str(STOP)], capture_output=True, timeout=60, check=False)


def test_start_cluster_is_idempotent(slurm_cluster: None) -> None:
    proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "idle" in proc.stderr or "mixed" in proc.stderr or "allocated" in proc.stderr
    sinfo = subprocess.run(["sinfo", "-h", "-o", "%P %T"], capture_output=True, text=True, check=True)
    assert sinfo.stdout.split()[0] == "main*"


def test_demo_regions_run_through_sbatch(slurm_cluster: None, tmp_path: Path) -> None:
    # Both regions' wind step (one Slurm job array), one region's buildings: every kind of
    # region job, while the whole demo (about 10 levels of jobs) would take too long in CI.
    paths = RunPaths("results")
    targets = [paths.region(paths.region_sentinel_pattern, rid) for rid in REGIONS]
    targets.append(paths.region(paths.region_buildings_pattern, REGIONS[1]))
    proc = run_snakemake(
        tmp_path, "--profile", str(REPO / "profiles" / "slurm"), "--jobs", "4",
        "--slurm-no-account", *targets, timeout=600,  # the test cluster has no accounts
    )
    log = proc.stdout + proc.stderr
    ids = set(SUBMITTED.findall(log))
    assert ids, f"no Slurm job id in the Snakemake log:\n{log[-4000:]}"
    assert "Submitted array job" in log, "region jobs should go out as Slurm job arrays"
    # squeue keeps finished jobs for MinJobAge (1 h on our cluster): every job ran and completed.
    # %F is the job id (the array's id for array tasks), %i the job or task id.
    squeue = subprocess.run(["squeue", "--states=all", "-h", "-o", "%F|%i|%T"],
                            capture_output=True, text=True, check=True).stdout
    rows = [line.split("|") for line in squeue.split()]
    seen = {row[0]: row[2] for row in rows if row[0] in ids}
    assert set(seen) == ids, f"ids {ids - set(seen)} unknown to squeue"
    assert all(row[2] == "COMPLETED" for row in rows if row[0] in ids), rows
    logdir = tmp_path / ".snakemake" / "slurm_logs"
    ruledirs = {p.relative_to(logdir).parts[0] for p in logdir.rglob("*.log")}
    assert {"rule_wind_region", "rule_buildings_region"} <= ruledirs, ruledirs
    for target in targets:
        assert (tmp_path / target).stat().st_size > 0, target
