"""How the rules' resource requests scale with the config; the numbers themselves, and where each
comes from, are in ``rules/*.smk`` beside the rule.

- Rules with one job per region: memory in proportion to the region's buffered pixel count, from a
  figure for a full CONUS region, never below a floor. Plain numbers computed once at parse time:
  a callable is evaluated per job, and per-job expressions made dry runs ~30 % slower at 5,000
  regions (profiles/default), so these rules carry their headroom up front instead of per retry.
- Rules with one job: memory grows with the retry ``attempt`` (a job killed for memory gets twice
  as much next time).
- ``wind_distribution``: a local Dask cluster's workers live inside the job, so its memory is
  theirs plus the client and scheduler.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from windrisk.settings import DaskSettings, GridSettings

# A CONUS region with its buffer: 6,000 x 4,500 px chunks + 2 x 490 px (config/conus.yaml), the
# size bench_wind.py measures (6,980 x 5,480 px).
FULL_REGION_PX: Final = (6_000 + 2 * 490) * (4_500 + 2 * 490)
# Below this a job is mostly interpreter and imports (demo region jobs: ~300 MB peak, benchmarks
# of the demo run), so no request goes lower.
FLOOR_MB: Final = 1_000
ROUND_MB: Final = 500
# Below a quarter of a full region the wind computation takes ~5 s (4.1 Mpx/s per climate run,
# benchmarks/README.md) against ~20 s of imports per job: two one-thread jobs side by side finish
# sooner than one two-thread job.
MULTI_THREAD_MIN_PX: Final = FULL_REGION_PX // 4


def region_px(grid: GridSettings) -> int:
    """Pixels of one region with its buffer on both sides (``grid.chunks``, ``grid.buffer_px``)."""
    rows, cols = grid.chunks
    return (rows + 2 * grid.buffer_px) * (cols + 2 * grid.buffer_px)


def region_mb(grid: GridSettings, full_region_mb: int) -> int:
    """Memory (MB) for one region job: ``full_region_mb`` scaled to this grid's regions, rounded up."""
    scaled = full_region_mb * region_px(grid) / FULL_REGION_PX
    return max(FLOOR_MB, math.ceil(scaled / ROUND_MB) * ROUND_MB)


def region_threads(grid: GridSettings, full_region_threads: int) -> int:
    """Threads for one region job: ``full_region_threads`` where regions are large enough to use them."""
    return full_region_threads if region_px(grid) >= MULTI_THREAD_MIN_PX else 1


def by_attempt(mb: int) -> Callable[..., int]:
    """A ``mem_mb`` callable for a rule: ``mb`` on the first attempt, twice that on the second, ..."""

    def mem_mb(wildcards: Any, attempt: int) -> int:
        return mb * attempt

    return mem_mb


def dask_local_mb(dask: DaskSettings, client_mb: int) -> Callable[..., int]:
    """``wind_distribution``'s ``mem_mb``: with ``dask.cluster: local`` its workers (one per
    ``threads_per_worker`` threads unless ``dask.workers`` is set) at ``dask.memory_per_worker``
    each (they run inside the job), plus ``client_mb`` for the client and scheduler; elsewhere ``client_mb`` only. Scaled by
    ``attempt``."""
    from windrisk.cluster import local_workers, parse_memory

    worker_mb = math.ceil(parse_memory(dask, "memory_per_worker") / 1e6)

    def mem_mb(wildcards: Any, threads: int, attempt: int) -> int:
        workers = local_workers(dask, threads) if dask.cluster == "local" else 0
        return (client_mb + workers * worker_mb) * attempt

    return mem_mb
