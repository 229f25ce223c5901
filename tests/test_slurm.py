"""profiles/slurm on a REAL one-node Slurm cluster (slurmctld + slurmd + munged on this machine).

scripts/slurm/start_cluster.sh installs slurm-wlm and munge when absent (root + apt only) and
starts the cluster; these tests skip, saying why, only when that is impossible. One run of three
demo regions' wind step and one region's buildings step through `--profile profiles/slurm` (store
and outputs in the temp workdir, which every job sees) checks that the jobs went through sbatch
(Slurm job ids in Snakemake's log, the same ids in `squeue --states=all`, one Slurm log per job,
the outputs) and, as it runs, `scancel`s the first and the middle wind job: only those two
regions run again. A second, short run checks that a job no node can run stops the run at start.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, run_snakemake, snakemake_cmd

from windrisk.paths import RunPaths

# The cancel run needs the setup steps, two waves of region jobs and a retry: ~8 min when idle.
pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.timeout(1500)]
START = REPO / "scripts" / "slurm" / "start_cluster.sh"
STOP = REPO / "scripts" / "slurm" / "stop_cluster.sh"
# Regions with data (column x0 is ocean, whose job may end before it can be cancelled).
REGIONS = ("y0_x1", "y1_x2", "y2_x3")
SUBMITTED = re.compile(r"SLURM job ?id (\d+)", re.IGNORECASE)
WIND_JOB = "rule_wind_region_wildcards_"  # the plugin's --comment: rule and wildcards
PROFILE = ("--profile", str(REPO / "profiles" / "slurm"), "--slurm-no-account")  # no accounts here


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


@dataclass(frozen=True)
class SlurmJob:
    id: str  # job id (array tasks: <array>_<task>)
    state: str
    comment: str


def jobs_of_run(run_id: str) -> list[SlurmJob]:
    """This run's Slurm jobs (the plugin names every job after the run id), in submission order;
    squeue keeps finished jobs for MinJobAge (1 h on our cluster)."""
    out = subprocess.run(
        ["squeue", "--states=all", "-h", "-o", "%i|%j|%T|%k"], capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split("|") for line in out.splitlines() if line]
    jobs = [SlurmJob(row[0], row[2], row[3]) for row in rows if row[1] == run_id]
    return sorted(jobs, key=lambda job: [int(part) for part in job.id.split("_")])


def run_id_of(log: str) -> str | None:
    """The run's id: every job of a run has it as its Slurm job name (seen once one is submitted)."""
    first = SUBMITTED.search(log)
    if first is None:
        return None
    out = subprocess.run(
        ["squeue", "--states=all", "-h", "-j", first.group(1), "-o", "%j"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return out or None


@dataclass(frozen=True)
class CancelRun:
    workdir: Path
    log: str
    run_id: str
    jobs: list[SlurmJob]
    cancelled: dict[str, str]  # region -> the Slurm job id cancelled while running


def run_cancelling_first_and_middle(workdir: Path, targets: list[str], timeout: float) -> CancelRun:
    """Run ``targets``; once all wind jobs are submitted, `scancel` the first and the middle
    one (by submission order) after each has run a few seconds, as a pre-emption would."""
    logfile = workdir / "snakemake.log"
    with logfile.open("w") as out:
        proc = subprocess.Popen(
            snakemake_cmd(workdir, *PROFILE, "--jobs", "4", *targets), stdout=out, stderr=subprocess.STDOUT, text=True
        )
    deadline = time.monotonic() + timeout
    run_id, picks, cancelled, running_since = None, None, {}, {}
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            if run_id is None:
                run_id = run_id_of(logfile.read_text())
                continue
            if picks is not None and len(cancelled) == len(picks):
                continue
            wind = [job for job in jobs_of_run(run_id) if job.comment.startswith(WIND_JOB)]
            if picks is None and len(wind) == len(REGIONS):
                picks = {wind[0].id, wind[len(wind) // 2].id}
            for job in wind:
                if not picks or job.id not in picks or job.id in cancelled.values() or job.state != "RUNNING":
                    continue
                # A wind job runs ~1 min (imports, then the region): cancel it partway.
                if time.monotonic() - running_since.setdefault(job.id, time.monotonic()) > 5:
                    subprocess.run(["scancel", job.id], check=True)
                    cancelled[job.comment.removeprefix(WIND_JOB)] = job.id
        proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:  # Snakemake scancels its jobs on SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
    log = logfile.read_text()
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{log[-6000:]}"
    assert run_id, f"no Slurm job id in the Snakemake log:\n{log[-4000:]}"
    return CancelRun(workdir, log, run_id, jobs_of_run(run_id), cancelled)


@pytest.fixture(scope="module")
def cancel_run(slurm_cluster: None, tmp_path_factory: pytest.TempPathFactory) -> CancelRun:
    # Three regions' wind step and one region's buildings: every kind of region job, while the
    # whole demo (about 10 levels of jobs) would take too long in CI.
    paths = RunPaths("results")
    targets = [paths.region(paths.region_sentinel_pattern, rid) for rid in REGIONS]
    targets.append(paths.region(paths.region_buildings_pattern, REGIONS[-1]))
    return run_cancelling_first_and_middle(tmp_path_factory.mktemp("slurm_run"), targets, timeout=1200)


def test_demo_regions_run_through_sbatch(cancel_run: CancelRun) -> None:
    ids = set(SUBMITTED.findall(cancel_run.log))
    assert ids, f"no Slurm job id in the Snakemake log:\n{cancel_run.log[-4000:]}"
    # One Slurm job per region: arrays lose every region of an array with its first task.
    assert "Submitted array job" not in cancel_run.log
    seen = {job.id: job.state for job in cancel_run.jobs}
    assert ids == set(seen), f"ids {ids ^ set(seen)} not both in the log and in squeue"
    lost = set(cancel_run.cancelled.values())
    assert all(state == "COMPLETED" for jid, state in seen.items() if jid not in lost), seen
    logdir = cancel_run.workdir / ".snakemake" / "slurm_logs"
    ruledirs = {p.relative_to(logdir).parts[0] for p in logdir.rglob("*.log")}
    assert {"rule_wind_region", "rule_buildings_region"} <= ruledirs, ruledirs
    paths = RunPaths("results")
    for rid in REGIONS:
        assert (cancel_run.workdir / paths.region(paths.region_sentinel_pattern, rid)).stat().st_size > 0, rid
    assert (cancel_run.workdir / paths.region(paths.region_buildings_pattern, REGIONS[-1])).stat().st_size > 0


def test_a_cancelled_job_reruns_only_its_region(cancel_run: CancelRun) -> None:
    # The issue: with job arrays, `scancel` of task 1 failed the other tasks 60 s later
    # (MissingOutputException for task 1's sentinel) and every region re-ran.
    assert len(cancel_run.cancelled) == 2, f"first and middle wind jobs not both cancelled: {cancel_run.jobs}"
    states = {job.id: job.state for job in cancel_run.jobs}
    assert {states[jid] for jid in cancel_run.cancelled.values()} == {"CANCELLED"}, states
    runs = Counter(job.comment.removeprefix(WIND_JOB) for job in cancel_run.jobs if job.comment.startswith(WIND_JOB))
    assert runs == {rid: 2 if rid in cancel_run.cancelled else 1 for rid in REGIONS}, runs
    assert cancel_run.log.count("Trying to restart job") == 2, cancel_run.log[-6000:]
    assert "MissingOutputException" not in cancel_run.log


def test_a_job_no_node_can_run_stops_the_run_at_start(slurm_cluster: None, tmp_path: Path) -> None:
    # Slurm itself would leave pmtiles PENDING (Reason=PartitionConfig) forever, saying nothing.
    node_cpus = max(
        int(cpus)
        for cpus in subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%c"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    started = time.monotonic()
    proc = run_snakemake(
        tmp_path,
        *PROFILE,
        "--set-resources",
        f"pmtiles:cpus_per_task={node_cpus + 1}",
        "--slurm-array-jobs",
        "wind_region",
        str(Path(RunPaths("results").pmtiles)),
        check=False,
        timeout=300,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-4000:]
    assert time.monotonic() - started < 120, "the check should answer within a minute or so"
    assert f"rule pmtiles asks for {node_cpus + 1} CPUs" in log, log[-4000:]
    assert f"largest node has {node_cpus} CPUs" in log and "set-resources" in log
    assert "slurm-array-jobs is set (wind_region)" in log
    assert not SUBMITTED.search(log), "nothing may be submitted"
