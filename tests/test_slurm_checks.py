"""windrisk.slurm without a cluster: fixed `sinfo` output, fake jobs (the real cluster: test_slurm.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from windrisk.slurm import (
    Node,
    Request,
    array_setting_error,
    largest_per_rule,
    parse_sinfo,
    parse_time_limit,
    request_of,
    unschedulable,
)

# `sinfo --noheader --Node --format=%N|%P|%c|%m|%l` on a two-partition cluster.
SINFO = """\
vm|main*|2|21694|infinite
big01|large|64|512000|2-00:00:00
big01|short|64|512000|30:00
"""


def test_parse_sinfo() -> None:
    nodes = parse_sinfo(SINFO)
    assert nodes[0] == Node("vm", "main", True, 2, 21694, float("inf"))
    assert nodes[1] == Node("big01", "large", False, 64, 512000, 2 * 1440)
    assert nodes[2].max_minutes == 30


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("infinite", float("inf")),
        ("UNLIMITED", float("inf")),
        ("1:00:00", 60),
        ("30:00", 30),
        ("45", 45),
        ("1-12:30:00", 2190),
        ("0:00:30", 0.5),
    ],
)
def test_parse_time_limit(text: str, minutes: float) -> None:
    assert parse_time_limit(text) == minutes


def test_parse_sinfo_names_the_bad_line() -> None:
    with pytest.raises(ValueError, match="vm|main"):
        parse_sinfo("vm|main*|two|1000|infinite\n")


def test_too_many_cpus_is_named_with_the_largest_node_and_the_fix() -> None:
    # The issue: pmtiles asked 4 CPUs on a 2-CPU node and stayed PENDING (Reason=PartitionConfig).
    (problem,) = unschedulable([Request("pmtiles", 4, 16000, 480)], parse_sinfo(SINFO))
    assert "rule pmtiles asks for 4 CPUs" in problem
    assert "largest node has 2 CPUs (vm)" in problem
    assert "PENDING forever" in problem
    assert "set-resources" in problem and "`pmtiles: {cpus_per_task: 2}`" in problem


def test_requests_that_fit_some_node_pass() -> None:
    nodes = parse_sinfo(SINFO)
    assert unschedulable([Request("wind_region", 1, 8000, 60), Request("pmtiles", 2, 21694, 10_000)], nodes) == []
    # A partition other than the default is checked against its own nodes and time limit.
    assert unschedulable([Request("aggregate_conus", 32, 400_000, 240, "large")], nodes) == []
    (late,) = unschedulable([Request("aggregate_conus", 32, 400_000, 240, "short")], nodes)
    assert "time limit is 30 min" in late and "runtime: 30" in late


def test_memory_and_unknown_partition() -> None:
    nodes = parse_sinfo(SINFO)
    (mem,) = unschedulable([Request("aggregate_conus", 1, 32000, 60)], nodes)
    assert "the most memory is 21694 MB (vm)" in mem and "mem_mb: 21694" in mem
    (part,) = unschedulable([Request("wind_region", 1, 100, 1, "gpu")], nodes)
    assert "partition 'gpu' has no nodes (partitions: large, main, short)" in part


def job(rule: str, threads: int = 1, **resources: object) -> SimpleNamespace:
    return SimpleNamespace(rule=SimpleNamespace(name=rule), threads=threads, resources=resources)


def test_request_of_follows_the_slurm_plugin() -> None:
    # cpus_per_task wins over threads (as `-c`); mem_mb_per_cpu is per CPU; TBD values count as unset.
    assert request_of(job("pmtiles", threads=8, cpus_per_task=4, mem_mb=16000, runtime=480)) == Request(
        "pmtiles", 4, 16000, 480
    )
    assert request_of(job("r", threads=3, mem_mb_per_cpu=1000, runtime="<TBD>")) == Request("r", 3, 3000, 0)
    assert request_of(job("r", slurm_partition="large")).partition == "large"


def test_largest_per_rule() -> None:
    merged = largest_per_rule([Request("r", 1, 500, 10), Request("r", 2, 100, 5), Request("s", 1)])
    assert merged == [Request("r", 2, 500, 10), Request("s", 1)]


def test_array_setting_error() -> None:
    assert array_setting_error(None, "2.8.0") is None
    assert array_setting_error(" ", "2.8.0") is None
    message = array_setting_error("wind_region;buildings_region", "2.8.0")
    assert message is not None
    assert "slurm-array-jobs is set (wind_region, buildings_region)" in message
    assert "2.8.0" in message and "Remove `slurm-array-jobs`" in message
