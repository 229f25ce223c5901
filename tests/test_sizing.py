"""windrisk.sizing: resource requests scaled by the config (the rules' own numbers are checked
on real dry runs in tests/test_profiles.py)."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import CONUS_CONFIG, DEMO_CONFIG

from windrisk.cluster import parse_size
from windrisk.config import DEFAULTS
from windrisk.settings import DaskSettings, from_mapping, load_settings
from windrisk.sizing import (
    FLOOR_MB,
    FULL_REGION_PX,
    by_attempt,
    dask_local_mb,
    region_mb,
    region_px,
    region_threads,
)

CONUS, DEMO = load_settings(CONUS_CONFIG).grid, load_settings(DEMO_CONFIG).grid


def test_a_conus_region_is_the_benchmarked_size_and_keeps_its_figures() -> None:
    assert region_px(CONUS) == FULL_REGION_PX == 6_980 * 5_480
    assert region_mb(CONUS, 4000) == 4000 and region_threads(CONUS, 2) == 2


def test_small_regions_ask_less_but_never_below_the_floor() -> None:
    assert region_px(DEMO) == 920 * 770
    assert region_mb(DEMO, 4000) == FLOOR_MB and region_threads(DEMO, 2) == 1
    half = dataclasses.replace(CONUS, chunks=(3000, 4500), buffer_px=490)
    assert region_mb(half, 8000) == 5000  # 8000 x 0.57, rounded up to a multiple of 500 MB


def test_single_jobs_get_more_memory_on_each_retry() -> None:
    assert [by_attempt(2000)(None, attempt) for attempt in (1, 2, 3)] == [2000, 4000, 6000]


def test_a_local_dask_cluster_counts_its_workers_in_the_jobs_memory() -> None:
    local = from_mapping(DaskSettings, {**DEFAULTS["dask"], "memory_per_worker": "4GiB"})
    assert (local.cluster, local.workers, local.threads_per_worker) == ("local", 0, 1)
    assert dask_local_mb(local, 2000)(None, 4, 1) == 2000 + 4 * 4295
    assert dask_local_mb(dataclasses.replace(local, workers=1), 2000)(None, 4, 2) == 2 * (2000 + 4295)
    assert dask_local_mb(dataclasses.replace(local, cluster="slurm", workers=8), 2000)(None, 1, 1) == 2000


@pytest.mark.parametrize("text", ["4GiB", "1GiB", "500 MB", "1.5GB", "2TiB", "64KiB", "3 KB"])
def test_sizes_read_as_dask_reads_them(text: str) -> None:
    # Parsed without importing Dask at parse time; the workers get the same string from Dask.
    from dask.utils import parse_bytes

    assert parse_size(text) == parse_bytes(text)


def test_a_size_outside_the_schema_is_refused() -> None:
    with pytest.raises(ValueError, match="not a size such as 4GiB"):
        parse_size("4 gigs")
