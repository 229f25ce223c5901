"""Checks made once when a run starts with the Slurm executor (profiles/slurm), before any sbatch.

Slurm accepts a job that asks for more CPUs per task than any node has, or a longer time than
the partition allows, and leaves it PENDING forever (Reason=PartitionConfig / PartitionTimeLimit)
without telling Snakemake. ``unschedulable`` compares each rule's request with the nodes `sinfo`
lists and names the rule, the request, the largest node and the fix, so the run stops in seconds.

``array_setting_error`` refuses job arrays: in snakemake-executor-plugin-slurm 2.8.0 every task
of an array runs its command inside a launcher that is the array's *first* job, which then waits
for the first job's outputs (latency-wait) and fails when they never come. Measured on the
one-node cluster: `scancel` of task 1 of 3 failed tasks 2 and 3 after they had committed.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

# One line per node and partition: name, partition (default marked *), CPUs, memory (MB), time limit.
SINFO_ARGS: Final = ("sinfo", "--noheader", "--Node", "--format=%N|%P|%c|%m|%l")
PROFILE_FIX: Final = "lower it under `set-resources` in profiles/slurm/profile.yaml (or `--set-resources`)"


@dataclass(frozen=True)
class Node:
    name: str
    partition: str
    default: bool  # the partition jobs go to when they name none
    cpus: int
    mem_mb: int
    max_minutes: float  # the partition's time limit; inf when unlimited


@dataclass(frozen=True)
class Request:
    """What one rule's jobs ask Slurm for (the largest over its jobs)."""

    rule: str
    cpus: int
    mem_mb: int = 0
    runtime_min: int = 0
    partition: str | None = None


def parse_time_limit(text: str) -> float:
    """Minutes in a Slurm time limit ("infinite", "UNLIMITED", "[D-]HH:MM:SS", "MM:SS", "MM")."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited"):
        return float("inf")
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    # Slurm prints MM, MM:SS or HH:MM:SS.
    hours, minutes, seconds = ([0, 0] + parts)[-3:] if len(parts) > 1 else (0, parts[0], 0)
    return int(days or 0) * 1440 + hours * 60 + minutes + seconds / 60


def parse_sinfo(text: str) -> list[Node]:
    """Nodes from the output of ``SINFO_ARGS``."""
    nodes = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            name, partition, cpus, mem, limit = line.strip().split("|")
            nodes.append(
                Node(
                    name,
                    partition.rstrip("*"),
                    partition.endswith("*"),
                    int(cpus),
                    int(mem.rstrip("+")),
                    parse_time_limit(limit),
                )
            )
        except ValueError as exc:
            raise ValueError(f"unexpected line from `{' '.join(SINFO_ARGS)}`: {line!r} ({exc})") from exc
    return nodes


def query_nodes() -> list[Node]:
    proc = subprocess.run(SINFO_ARGS, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(SINFO_ARGS)}` failed ({proc.returncode}): {proc.stderr.strip()}")
    return parse_sinfo(proc.stdout)


def unschedulable(requests: Iterable[Request], nodes: Sequence[Node]) -> list[str]:
    """One message per request no node of its partition can ever run."""
    problems = []
    for req in requests:
        where = req.partition or next((n.partition for n in nodes if n.default), None)
        candidates = [n for n in nodes if where is None or n.partition == where]
        label = f"partition {where!r}" if where else "the cluster"
        if not candidates:
            known = sorted({n.partition for n in nodes})
            problems.append(
                f"rule {req.rule}: {label} has no nodes (partitions: {', '.join(known)}); "
                "set `slurm_partition` to one of them"
            )
            continue
        if any(n.cpus >= req.cpus and n.mem_mb >= req.mem_mb and n.max_minutes >= req.runtime_min for n in candidates):
            continue
        most_cpus = max(candidates, key=lambda n: n.cpus)
        most_mem = max(candidates, key=lambda n: n.mem_mb)
        limit = max(n.max_minutes for n in candidates)
        fixes = []
        if req.cpus > most_cpus.cpus:
            fixes.append(f"cpus_per_task={most_cpus.cpus}")
        if req.mem_mb > most_mem.mem_mb:
            fixes.append(f"mem_mb={most_mem.mem_mb}")
        if req.runtime_min > limit:
            fixes.append(f"runtime={int(limit)}")
        if not fixes:  # each fits some node, but no node has all of it
            fixes.append(f"cpus_per_task={most_mem.cpus} or mem_mb={most_cpus.mem_mb}")
        problems.append(
            f"rule {req.rule} asks for {req.cpus} CPUs, {req.mem_mb} MB and {req.runtime_min} min per job, "
            f"but in {label} the largest node has {most_cpus.cpus} CPUs ({most_cpus.name}), the most "
            f"memory is {most_mem.mem_mb} MB ({most_mem.name}) and the time limit is "
            f"{'unlimited' if limit == float('inf') else f'{int(limit)} min'}: Slurm would keep it "
            f"PENDING forever. Fix: {PROFILE_FIX}, e.g. `{req.rule}: {{{', '.join(fixes).replace('=', ': ')}}}`"
        )
    return problems


def request_of(job: Any) -> Request:
    """What sbatch will ask for one Snakemake job, computed as snakemake-executor-plugin-slurm does."""
    from snakemake_executor_plugin_slurm.partitions import get_job_cpu_requirement

    res = job.resources
    cpus, _ = get_job_cpu_requirement(job)
    mem_per_cpu = _number(res.get("mem_mb_per_cpu"))
    mem_mb = mem_per_cpu * max(cpus, 1) if mem_per_cpu else _number(res.get("mem_mb"))
    partition = res.get("slurm_partition")
    return Request(job.rule.name, cpus, mem_mb, _number(res.get("runtime")), str(partition) if partition else None)


def largest_per_rule(requests: Iterable[Request]) -> list[Request]:
    """One request per rule and partition: the most CPUs, memory and time any of its jobs asks."""
    merged: dict[tuple[str, str | None], Request] = {}
    for req in requests:
        key = (req.rule, req.partition)
        old = merged.get(key, req)
        merged[key] = Request(
            req.rule,
            max(old.cpus, req.cpus),
            max(old.mem_mb, req.mem_mb),
            max(old.runtime_min, req.runtime_min),
            req.partition,
        )
    return list(merged.values())


def _number(value: Any) -> int:
    # Resources Snakemake has not evaluated yet (TBD) or non-numeric ones count as unset.
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def array_setting_error(array_jobs: str | None, plugin_version: str) -> str | None:
    """Why ``--slurm-array-jobs`` must stay off, or None when it is off."""
    names = [n.strip() for n in re.split(r"[,;]", array_jobs or "") if n.strip()]
    if not names:
        return None
    return (
        f"slurm-array-jobs is set ({', '.join(names)}), but with snakemake-executor-plugin-slurm "
        f"{plugin_version} every task of a Slurm array waits for the outputs of the array's first "
        "task, so one cancelled, pre-empted or failed task fails the whole array and every region "
        "in it re-runs (upstream issue snakemake-executor-plugin-slurm#447). Remove "
        "`slurm-array-jobs` from the profile and the command line: each region is then its own "
        "Slurm job and a lost job costs one region."
    )
