"""Wall time of a job's named steps: logged as each ends, summed per process for benchmarks.

Steps do not nest: each second of a region job is counted in at most one step, so the sums add
up to (nearly) the job's wall time and a benchmark can print a breakdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)
_LOCK = threading.Lock()
_TOTALS: Counter[str] = Counter()  # step name → wall seconds summed in this process


@contextmanager
def step(name: str) -> Iterator[None]:
    """Time the block as step ``name``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        took = time.perf_counter() - start
        with _LOCK:
            _TOTALS[name] += took
        log.debug("%s took %.3f s", name, took)


def totals(*, reset: bool = False) -> dict[str, float]:
    """Step name → wall seconds summed since the last reset, in first-seen order."""
    with _LOCK:
        out = dict(_TOTALS)
        if reset:
            _TOTALS.clear()
    return out
