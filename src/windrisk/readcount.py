"""Count the bytes read from local Zarr stores, in this process and on every Dask worker: the check
that a computation reads each stored chunk once (tests/test_fireweather_dask.py,
benchmarks/bench_fireweather.py).

Every read of zarr's ``LocalStore`` (``get``, ``get_sync``, partial and ranged reads) goes through
one module function, ``zarr.storage._local._get``; ``install`` wraps it once per process.
Icechunk reads its objects in Rust, past that function: ``files_read`` watches a directory of a
local Icechunk store (``chunks/``) through Linux inotify instead, which sees every reader.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
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


IN_ACCESS, IN_Q_OVERFLOW, IN_NONBLOCK, IN_CLOEXEC = 0x1, 0x4000, 0o4000, 0o2000000
EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name


@contextmanager
def files_read(directory: str | Path) -> Iterator[Counter[str]]:
    """Count the files directly in ``directory`` that are read during the block, by any code in any
    process (Rust included), via Linux inotify: name → read events, filled in when the block ends.
    The kernel merges back-to-back reads of one file into one event, so the names are exact and
    the numbers a lower bound."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify is unavailable: cannot count file reads")
    try:
        if libc.inotify_add_watch(fd, os.fsencode(directory), IN_ACCESS) < 0:
            raise OSError(ctypes.get_errno(), f"cannot watch {directory} for reads (does it exist?)")
        reads: Counter[str] = Counter()
        yield reads
        reads.update(_read_events(fd))
    finally:
        os.close(fd)


def _read_events(fd: int) -> Iterator[str]:
    """Names of the files in the queued inotify ``IN_ACCESS`` events (the directory's own: skipped)."""
    while True:
        try:
            buf = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        at = 0
        while at < len(buf):
            _wd, mask, _cookie, size = EVENT.unpack_from(buf, at)
            if mask & IN_Q_OVERFLOW:
                raise RuntimeError("inotify dropped events (queue full): the read count is incomplete")
            name = buf[at + EVENT.size : at + EVENT.size + size].rstrip(b"\0")
            if name:
                yield os.fsdecode(name)
            at += EVENT.size + size
