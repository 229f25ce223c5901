"""Group commit: many writers hand their changes to whichever of them holds the commit lease.

A writer writes its chunks through a fork of a writable session (``Session.fork``), pickles the
fork with a record of what it wrote into a *ticket* in the queue area beside the repository, and
waits for its *receipt*. While it waits it tries to take the lease; the holder merges every
pending ticket into one session (``Session.merge``) and makes one commit for all of them, writes a
receipt per ticket (the snapshot id) and deletes the tickets. So k writers arriving together cost
one or a few commits instead of k racing ones, and throughput rises with concurrency.

Queue area (``<store>.queue/`` beside a local store, ``s3://bucket/<prefix>.queue/`` beside an S3
one; never inside the repository, whose objects Icechunk owns):

* ``tickets/<ns>-<label>-<rand>``: a pickled fork and its record, pending commit
* ``receipts/<ticket>``: ``{"snapshot_id"}`` or ``{"error"}``, read and deleted by the writer
* ``writers/<ticket>``: a writer that may hold chunks no snapshot references yet; refreshed while
  it waits, so ``store gc`` can tell a live run from a killed one
* ``lease`` (S3 only): created with ``If-None-Match: *``; stale after ``lease_ttl_s`` by the
  server's own clock. On local storage the lease is an ``flock`` (freed by the kernel on death).

On S3 the lease only avoids wasted work: two holders at once (a stale lease taken twice) still
commit safely, because Icechunk's commit is a conditional write and merged tickets touch the same
chunks, so the second commit fails to rebase and leaves its tickets to the next holder. On local
storage the flock is what makes commits safe at all (Icechunk's local backend has no conditional
update).
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import pickle
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import icechunk as ic

log = logging.getLogger(__name__)

TICKETS, RECEIPTS, WRITERS, LEASE = "tickets/", "receipts/", "writers/", "lease"
REBASE_TRIES = 8  # other committers' disjoint changes rebase cleanly; same chunks never do


class QueueError(RuntimeError):
    """A ticket was refused or never committed; the message says why and what to do."""


# ---- the queue area: a few small objects beside the repository --------------------------------
class QueueArea(Protocol):
    def put(self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None) -> bool: ...
    def get(self, key: str) -> bytes | None: ...
    def keys(self, prefix: str) -> list[str]: ...
    def stat(self, key: str) -> tuple[float, str] | None: ...
    def delete(self, key: str) -> None: ...
    def delete_many(self, keys: list[str]) -> None: ...


class LocalArea:
    """A directory; every write is a temp file renamed (or hard-linked when it must be new)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None) -> bool:
        if if_match is not None:  # no atomic compare-and-swap on a plain filesystem
            raise NotImplementedError("LocalArea cannot replace conditionally; local stores use FileLease")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        tmp.write_bytes(data)
        try:
            if if_absent:
                os.link(tmp, path)  # fails when the key exists: create-only, atomically
            else:
                os.replace(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def keys(self, prefix: str) -> list[str]:
        folder = self._path(prefix)
        if not folder.is_dir():
            return []
        return sorted(prefix + p.name for p in folder.iterdir() if not p.name.startswith("."))

    def stat(self, key: str) -> tuple[float, str] | None:
        """(age in s, a version tag) or None when absent."""
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return time.time() - st.st_mtime, f"{st.st_ino}-{st.st_mtime_ns}"

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_many(self, keys: list[str]) -> None:
        for key in keys:
            self.delete(key)


class S3Area:
    """A prefix in a bucket, through boto3 (credentials and endpoint as for the store)."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/") + "/"

    def put(self, key: str, data: bytes, *, if_absent: bool = False, if_match: str | None = None) -> bool:
        extra = {"IfNoneMatch": "*"} if if_absent else {"IfMatch": if_match} if if_match else {}
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data, **extra)
        except self.client.exceptions.ClientError as exc:
            if _status(exc) in (404, 409, 412):  # precondition failed (409: a concurrent conditional put won)
                return False
            raise
        return True

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def keys(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
        return sorted(obj["Key"].removeprefix(self.prefix) for page in pages for obj in page.get("Contents", []))

    def stat(self, key: str) -> tuple[float, str] | None:
        """(age by the server's clock: its Date header against LastModified, so no skew with ours;
        ETag) or None when absent."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except self.client.exceptions.ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        now = parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["date"])
        return (now - head["LastModified"]).total_seconds(), str(head["ETag"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def delete_many(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes up to 1000 keys
            batch = [{"Key": self.prefix + key} for key in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


# ---- the lease -------------------------------------------------------------------------------
class Lease(Protocol):
    asks_cost_requests: bool

    def try_acquire(self) -> bool: ...
    def holds(self) -> bool: ...
    def refresh(self) -> None: ...
    def release(self) -> None: ...


class FileLease:
    """An exclusive ``flock`` on a file beside a local repository."""

    asks_cost_requests = False  # a failed try is one system call

    def __init__(self, path: Path) -> None:
        self.path, self._fd = path, -1

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o664)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def holds(self) -> bool:
        return self._fd >= 0

    def refresh(self) -> None:
        """Nothing to do: an flock lasts until released or its holder dies."""

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing releases the lock (so does the process dying)
            self._fd = -1


class ObjectLease:
    """A create-only object; a holder that died is replaced once the object is ``ttl_s`` old.

    The holder rewrites it every ``ttl_s / 4`` while it holds it (``kept_alive``). Taking over a
    stale lease is a compare-and-swap on its ETag, so of many waiters that see it stale one wins.
    """

    asks_cost_requests = True  # a failed try is a request to the store

    def __init__(self, area: QueueArea, ttl_s: float) -> None:
        self.area, self.ttl_s, self.token = area, ttl_s, ""

    def _body(self, token: str) -> bytes:
        return json.dumps({"token": token, "pid": os.getpid(), "host": os.uname().nodename}).encode()

    def try_acquire(self) -> bool:
        """One request while another holds it (its age), two to take it."""
        token = secrets.token_hex(8)
        held = self.area.stat(LEASE)
        if held is None:
            if not self.area.put(LEASE, self._body(token), if_absent=True):
                return False
        elif held[0] < self.ttl_s or not self.area.put(LEASE, self._body(token), if_match=held[1]):
            return False
        else:
            log.warning("took over a commit lease %.0f s old (its holder died?)", held[0])
        self.token = token
        return True

    def holds(self) -> bool:
        """Whether the lease is still ours (a slow holder's may have been taken over)."""
        held = self.area.get(LEASE)
        return bool(self.token) and held is not None and json.loads(held).get("token") == self.token

    def refresh(self) -> None:
        """Rewrite the lease so its age restarts (only while it is still ours)."""
        if self.holds():
            self.area.put(LEASE, self._body(self.token))

    def release(self) -> None:
        held = self.area.get(LEASE)
        if held is not None and json.loads(held).get("token") == self.token:
            self.area.delete(LEASE)
        self.token = ""


@contextmanager
def kept_alive(lease: Lease, every_s: float) -> Iterator[None]:
    """Refresh ``lease`` from a thread every ``every_s`` for the block (a long commit or gc)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            lease.refresh()

    thread = threading.Thread(target=beat, name="lease-keepalive", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def holding(lease: Lease, timeout_s: float, what: str, refresh_s: float = 30.0) -> Iterator[None]:
    """Hold ``lease`` for a block (refreshed every ``refresh_s``), waiting up to ``timeout_s``;
    QueueError naming ``what`` if it never comes."""
    deadline = time.monotonic() + timeout_s
    while not lease.try_acquire():
        if time.monotonic() >= deadline:
            raise QueueError(f"waited {timeout_s:.0f} s for the commit lease to {what}; another process holds it")
        time.sleep(random.uniform(0.01, 0.2))
    try:
        with kept_alive(lease, refresh_s):
            yield
    finally:
        lease.release()


# ---- tickets ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueSettings:
    """``store.commit``: how long a writer waits for its commit, how often it looks, lease expiry.

    Every waiter's look is a request. At 200 waiters a 2 s poll and a 5 s lease retry offered an
    S3-compatible server (moto, ~30 requests/s) 140 requests/s: the holder's requests queued
    behind them, its lease went stale and 185 of 200 regions failed; at 15 s / 30 s (~30
    requests/s) all landed but one commit took 12 min. So a waiter backs off to one receipt look
    per ``poll_max_s`` and one lease ask (a HEAD) per ``lease_retry_s`` after 1, 2, 4 ... s, and
    beats every ``heartbeat_s``: ~0.05 requests/s each, 10/s for 200. A lone writer still takes
    the lease at once, a writer arriving just after a holder let go soon after. An flock costs no
    request and is asked for on every look.
    """

    patience_s: float  # these three come from the config (store.commit; defaults in the schema)
    poll_max_s: float
    lease_ttl_s: float
    poll_min_s: float = 0.05
    heartbeat_s: float = 300.0
    lead_for_s: float = 60.0
    lease_retry_s: float = 60.0
    max_batch: int = 1000
    io_threads: int = 16  # the holder reads tickets and writes receipts this many at a time


def new_ticket(label: str) -> str:
    """A ticket name that sorts by creation time (newest write of a label wins)."""
    return f"{time.time_ns():020d}-{label}-{secrets.token_hex(4)}"


def ticket_label(ticket: str) -> str:
    return ticket.split("-", 1)[1].rsplit("-", 1)[0]


@dataclass
class GroupCommitter:
    """Hands forks to the lease holder and waits; ``metadata_of`` packs the records of one commit."""

    area: QueueArea
    lease: Lease
    open_repo: Callable[[], ic.Repository]
    branch: str
    metadata_of: Callable[[Mapping[str, Mapping[str, Any]]], dict[str, Any]]
    settings: QueueSettings

    @contextmanager
    def registered(self, ticket: str) -> Iterator[None]:
        """Mark a writer live for the block (``store gc`` keeps what live writers may reference)."""
        self._heartbeat(ticket)
        try:
            yield
        finally:
            self.area.delete(WRITERS + ticket)

    def _heartbeat(self, ticket: str) -> None:
        stamp = {"at": datetime.now(UTC).isoformat(), "pid": os.getpid(), "host": os.uname().nodename}
        self.area.put(WRITERS + ticket, json.dumps(stamp).encode())

    def submit(self, ticket: str, fork: ic.ForkSession, record: Mapping[str, Any]) -> None:
        self.area.put(TICKETS + ticket, pickle.dumps({"fork": fork, "record": dict(record)}))

    def wait(self, ticket: str) -> str:
        """The snapshot id that committed ``ticket``; leads commits while waiting."""
        start = time.monotonic()
        beat, pause, tried, gap, backoff = start, self.settings.poll_min_s, -math.inf, 0.0, 1.0
        while True:
            receipt = self.area.get(RECEIPTS + ticket)
            if receipt is not None:
                self.area.delete(RECEIPTS + ticket)
                answer = json.loads(receipt)
                if "error" in answer:
                    raise QueueError(f"{ticket_label(ticket)}: {answer['error']}")
                return str(answer["snapshot_id"])
            now = time.monotonic()
            # The holder commits until the queue is empty, so others need not ask often.
            if now - tried >= gap:
                tried = now
                if self.lease.asks_cost_requests:
                    gap, backoff = random.uniform(0.5, 1.5) * backoff, min(backoff * 2, self.settings.lease_retry_s)
                if self.lease.try_acquire():
                    try:
                        with kept_alive(self.lease, self.settings.lease_ttl_s / 4):
                            self._lead()
                    finally:
                        self.lease.release()
                    continue
            if now - start > self.settings.patience_s:
                self.area.delete(TICKETS + ticket)  # withdrawn: nothing of it lands later
                raise QueueError(
                    f"not committed after {self.settings.patience_s:g} s (store.commit.patience_s); "
                    f"{len(self.area.keys(TICKETS))} other tickets wait. A hung process may hold the "
                    "commit lease: find it, or raise store.commit.patience_s"
                )
            if now - beat > self.settings.heartbeat_s:
                self._heartbeat(ticket)
                beat = now
            time.sleep(random.uniform(pause / 2, pause))
            pause = min(pause * 1.5, self.settings.poll_max_s)

    def _lead(self) -> None:
        """Commit what waits, again until nothing does (for at most ``lead_for_s``), then let go."""
        until = time.monotonic() + self.settings.lead_for_s
        while time.monotonic() < until and self.commit_pending():
            if not self.lease.holds():  # taken over while this holder was slow: let the new one lead
                return

    def commit_pending(self) -> int:
        """Merge the pending tickets into one commit; the number committed. Hold the lease."""
        forks, records = self._load(self.area.keys(TICKETS)[: self.settings.max_batch])
        if not forks:
            return 0
        session = self.open_repo().writable_session(self.branch)
        session.merge(*forks.values())
        message = f"{len(records)} region(s): {', '.join(sorted(ticket_label(t) for t in records))[:200]}"
        try:
            snapshot = session.commit(
                message,
                metadata=self.metadata_of(records),
                rebase_with=ic.ConflictDetector(),
                rebase_tries=REBASE_TRIES,
            )
        except ic.ConflictError as exc:  # a second lease holder committed these: it sends receipts
            log.warning("group commit of %d tickets lost to another committer (%s)", len(records), exc)
            return 0
        receipt = json.dumps({"snapshot_id": snapshot}).encode()
        with ThreadPoolExecutor(self.settings.io_threads) as pool:
            list(pool.map(lambda ticket: self.area.put(RECEIPTS + ticket, receipt), records))
        self.area.delete_many([TICKETS + ticket for ticket in records])
        log.info("committed %d tickets as %s", len(records), snapshot)
        return len(records)

    def _load(self, keys: list[str]) -> tuple[dict[str, ic.ForkSession], dict[str, dict[str, Any]]]:
        """Readable tickets, only the newest per label; the others get an error receipt."""
        newest: dict[str, str] = {}
        loaded: dict[str, dict[str, Any]] = {}
        with ThreadPoolExecutor(self.settings.io_threads) as pool:
            contents = list(pool.map(self.area.get, keys))
        for key, data in zip(keys, contents, strict=True):  # sorted by creation time
            ticket = key.removeprefix(TICKETS)
            if data is None:  # committed by another holder meanwhile
                continue
            try:
                loaded[ticket] = pickle.loads(data)
            except Exception as exc:  # noqa: BLE001 - any unpickling failure means the ticket is unusable
                self._refuse(ticket, f"its ticket cannot be read ({type(exc).__name__}: {exc}); rerun the region")
                continue
            label = ticket_label(ticket)
            if label in newest:
                self._refuse(
                    newest[label],
                    f"superseded by a newer write of the same region ({ticket}); run each region in exactly one job",
                )
                loaded.pop(newest[label])
            newest[label] = ticket
        return ({t: v["fork"] for t, v in loaded.items()}, {t: v["record"] for t, v in loaded.items()})

    def _refuse(self, ticket: str, why: str) -> None:
        self.area.put(RECEIPTS + ticket, json.dumps({"error": why}).encode())
        self.area.delete(TICKETS + ticket)

    def pending(self) -> list[str]:
        return [k.removeprefix(TICKETS) for k in self.area.keys(TICKETS)]

    def live_writers(self, stale_after_s: float) -> tuple[list[str], list[str]]:
        """(live, abandoned) writer tickets: abandoned ones have not beaten for ``stale_after_s``."""
        live, abandoned = [], []
        for key in self.area.keys(WRITERS):
            seen = self.area.stat(key)
            if seen is None:
                continue
            (abandoned if seen[0] > stale_after_s else live).append(key.removeprefix(WRITERS))
        return live, abandoned

    def forget_writer(self, ticket: str) -> None:
        self.area.delete(WRITERS + ticket)
