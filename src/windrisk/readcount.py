"""Count the bytes read from local Zarr stores, in this process and on every Dask worker: the check
that a computation reads each stored chunk once (tests/test_fireweather_dask.py,
benchmarks/bench_fireweather.py).

Every read of zarr's ``LocalStore`` (``get``, ``get_sync``, partial and ranged reads) goes through
one module function, ``zarr.storage._local._get``; ``install`` wraps it once per process.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_READS: Counter[str] = Counter()  # file path → times read
_BYTES: Counter[str] = Counter()  # file path → bytes read


def install() -> None:
    """Start counting reads of local Zarr files in this process (idempotent)."""
    from zarr.storage import _local

    if getattr(_local._get, "counting", False):
        return
    original = _local._get

    def counted(path: Path, prototype: Any, byte_range: Any) -> Any:
        buf = original(path, prototype, byte_range)
        with _LOCK:
            _READS[str(path)] += 1
            _BYTES[str(path)] += len(buf)
        return buf

    counted.counting = True  # type: ignore[attr-defined]
    _local._get = counted


def snapshot() -> dict[str, tuple[int, int]]:
    """File path → (times read, bytes read) since the last ``reset``."""
    with _LOCK:
        return {p: (_READS[p], _BYTES[p]) for p in _READS}


def reset() -> None:
    with _LOCK:
        _READS.clear()
        _BYTES.clear()


def worker_plugin() -> Any:
    """A ``distributed.WorkerPlugin`` that installs the counter on every worker, restarted ones too."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class CountReads(WorkerPlugin):
        name = "windrisk-count-reads"

        def setup(self, worker: Any) -> None:
            install()

    return CountReads()


def merged(*snapshots: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Sum per-process snapshots."""
    reads: Counter[str] = Counter()
    nbytes: Counter[str] = Counter()
    for snap in snapshots:
        for path, (n, b) in snap.items():
            reads[path] += n
            nbytes[path] += b
    return {p: (reads[p], nbytes[p]) for p in reads}


def cluster_snapshot(client: Any) -> dict[str, tuple[int, int]]:
    """Reads on every current worker and in this process, summed (a worker lost mid-run takes its
    counts with it)."""
    return merged(snapshot(), *client.run(snapshot).values())


def stored_bytes(store: str | Path) -> int:
    """Bytes of every file in a local store directory."""
    return sum(p.stat().st_size for p in Path(store).rglob("*") if p.is_file())
