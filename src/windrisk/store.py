"""The one Icechunk repository of per-region risk: template, region writes, sentinels, done-ness.

Design
------
* **Template, once.** ``ensure_template`` (rule ``store_template``) creates the repository and
  commits every variable over the whole grid (metadata and coordinates only, no data chunks),
  plus a ``written`` marker array with one 1x1 chunk per region. Region jobs only ever *open*
  the repository (concurrent ``Repository.create`` is unsafe); re-running the template on the
  same grid is a no-op, and a different grid or variable set is refused.
* **Group commit.** A region job writes its chunks (exactly one chunk per variable, so no two
  jobs ever touch the same chunk) and sets ``written[row, col] = 1`` through a *fork* of a
  writable session, then hands the pickled fork to the queue beside the repository and waits;
  whichever waiting job holds the commit lease merges every waiting fork into **one** commit
  (``windrisk.commit_queue``). Data and done-mark land atomically; an all-NaN region stores no
  chunk but still sets the mark. Chosen by measurement (moto S3 server, 2-core VM): racing one
  optimistic commit per region made throughput *fall* with writers (16 writers 1.7 commits/s,
  64 writers 0.6/s, 8 of 64 regions failing after 8 attempts: each success makes every other
  writer rebase, O(k^2)); with group commit 200 writers finishing together all landed in 2
  commits at 1.35x the 1-writer rate, 2.09x when staggered over 2 min, with 0.13-0.16x the
  metadata per region (``benchmarks/bench_store.py``; waiters poll rarely, see ``QueueSettings``,
  or their requests starve the committer). The lease is an ``flock`` beside a
  local store (Icechunk's local backend silently loses concurrent commits, so it is required
  there) and a create-only object on S3 (a hint: Icechunk's conditional commit keeps two holders
  safe). A writer waits at most ``store.commit.patience_s``, then withdraws its fork and fails.
* **Metadata growth.** The repository is created with manifests split per row of chunks, so a
  region commit rewrites small manifests instead of every array's full list of refs (12x fewer
  manifest bytes measured). ``overwritten/`` still grows by one ``repo`` copy per commit and is
  never collected by Icechunk (earth-mover/icechunk#1852); fine for ~1k commits.
* **Proof.** Before handing its fork over, the job reads the fork's refs of its region's chunk
  of every variable (a chunk id, ``inline:<sha256>`` of bytes kept in the manifest, or null: an
  all-NaN chunk is not stored) and records them in the commit as ``chunk_refs``. After the
  commit it re-opens the repository and checks that its snapshot is on the branch, that
  ``written[row, col] == 1`` there and that the snapshot's refs of the region's chunks equal
  ``chunk_refs``: manifests only, no chunk data read (re-reading a 6000 x 4500 region took 9 s
  of a 21 s write; the refs take ~0.1 s, under 1 s with cold caches on a CONUS-shaped store with
  every region written). That suffices: this job wrote those chunk objects before the commit, under
  fresh random ids, and Icechunk never rewrites a chunk object, so a snapshot referencing exactly
  them holds exactly the bytes the job wrote (hashed as ``data_sha256``). Whether storage still
  holds those bytes intact is ``windrisk store verify``'s question: it reads the data and
  compares ``data_sha256``. A lost commit is written again (bounded).
* **Kill safety.** Nothing becomes visible before the commit. A writer killed after handing over
  its fork still lands (the next lease holder commits it; adoption then rewrites its sentinel);
  one killed before leaves orphan chunks for ``windrisk store gc``. A lease holder killed after
  committing but before writing receipts leaves the forks queued: the next holder commits them
  again (same chunk refs). The kernel drops a dead holder's flock; an S3 lease expires after
  ``store.commit.lease_ttl_s``.
* **Maintenance.** ``collect_garbage`` holds the lease, refuses while writers are live or forks
  wait (their chunks are in no snapshot yet), and never deletes objects younger than
  ``store.gc.safety_window_s``.
* **Done-ness.** A region is ``done`` when its mark is set on the branch *and* its sentinel names a
  snapshot on the branch. Sentinels whose snapshot is gone (store reset or recreated, lost commit)
  are ``stale``; ``reconcile_sentinels`` sets them aside at parse time so Snakemake re-runs them.
  So are sentinels whose chunk objects are gone (deleted by gc or by hand): one listing of
  ``chunks/`` against the tip's chunk refs finds them (``_lost_chunks``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import icechunk as ic
import numpy as np
import zarr
from zarr.core.sync import sync

import windrisk
from windrisk import codeversion
from windrisk.commit_queue import (
    FileLease,
    GroupCommitter,
    Lease,
    LocalArea,
    ObjectLease,
    QueueArea,
    QueueError,
    QueueSettings,
    S3Area,
    holding,
    new_ticket,
    ticket_label,
)
from windrisk.config import config_hash
from windrisk.grid import RegionGrid
from windrisk.io import s3_client, write_json_atomic
from windrisk.paths import RunPaths
from windrisk.settings import Settings
from windrisk.timing import step
from windrisk.variables import LICENSE, SOURCES, VARIABLES

if TYPE_CHECKING:
    import xarray as xr

log = logging.getLogger(__name__)

WRITTEN = "written"
TEMPLATE_TAG_PREFIX = "windrisk-template-"
TEMPLATE_WAIT_S = 60.0  # how long others let a repository's creator commit the template
TEMPLATE_TRIES = 200  # re-checks while a concurrent creator writes the template (~0.6 s each)
PROOF_TRIES = 3  # a commit that does not prove is written again (only a writer bypassing the lease loses one)
READ_ERRORS = (ic.IcechunkError, zarr.errors.BaseZarrError, OSError, RuntimeError, ValueError)
PROVENANCE_KEYS = ("code_version", "config_hash", "inputs")
STATES = ("done", "missing", "stale", "unrecorded")
SENTINEL_KEYS = (
    "region_id",
    "snapshot_id",
    "branch",
    "store_url",
    "data_sha256",
    "all_nan",
    "written_at",
    "code_version",
    "config_hash",
    "inputs",
    "base_snapshot_id",
)
REGION_ID_CONVENTION = (
    "region y{row}_x{col} is chunk (row, col) of every data variable, counted in the array's own "
    "row order; written[row, col] == 1 once that region is committed"
)


class StoreError(RuntimeError):
    """The store cannot be used as asked; the message names the input and the fix."""


class TemplateMismatchError(StoreError):
    """The existing store holds a different grid or variable set."""


class CommitError(StoreError):
    """A region could not be committed (or proven) within the configured attempts."""


# ---- storage -----------------------------------------------------------------------------
def storage_from_settings(settings: Settings, *, fail_fast: bool = False) -> ic.Storage:
    """``store.url`` (local path or ``s3://bucket/prefix``) → Icechunk storage; S3 keys from env."""
    url = settings.store.url
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket or not prefix.strip("/"):
            raise StoreError(f"store.url {url!r} must be s3://<bucket>/<prefix> with a non-empty prefix")
        s3 = settings.store.s3
        anonymous = bool(s3.anonymous)
        return ic.s3_storage(
            bucket=bucket,
            prefix=prefix.strip("/"),
            region=s3.region,
            endpoint_url=s3.endpoint_url,
            allow_http=bool(s3.allow_http),
            force_path_style=bool(s3.force_path_style),
            anonymous=True if anonymous else None,
            from_env=None if anonymous else True,  # AWS_ACCESS_KEY_ID etc.; never from the config
            network_stream_timeout_seconds=10 if fail_fast else 60,
        )
    if "://" in url:
        raise StoreError(f"store.url {url!r}: only a local path or s3://bucket/prefix is supported")
    if "ICECHUNK_LOG" not in os.environ:
        # Icechunk warns that local commits are unsafe concurrently; we serialise them (flock).
        ic.set_logs_filter("icechunk_arrow_object_store=error,icechunk_storage::readback=error,warn")
    return ic.local_filesystem_storage(str(Path(url).resolve()))


def _fail_fast_config() -> ic.RepositoryConfig:
    """Few, short retries: for parse-time checks that must not hang on an unreachable store."""
    retries = ic.StorageRetriesSettings(max_tries=2, initial_backoff_ms=100, max_backoff_ms=500)
    return ic.RepositoryConfig(storage=ic.StorageSettings(retries=retries))


def store_exists(settings: Settings, *, fail_fast: bool = False) -> bool:
    """True when a repository exists at ``store.url`` (never creates anything)."""
    if not settings.store.is_object_store and not Path(settings.store.url).exists():
        return False
    storage_settings = _fail_fast_config().storage if fail_fast else None
    return bool(ic.Repository.exists(storage_from_settings(settings, fail_fast=fail_fast), storage_settings))


def open_repo(settings: Settings, *, fail_fast: bool = False) -> ic.Repository:
    """Open the existing repository; raise StoreError telling how to create it."""
    storage = storage_from_settings(settings, fail_fast=fail_fast)
    try:
        return ic.Repository.open(storage, config=_fail_fast_config() if fail_fast else None)
    except ic.RepositoryNotFoundError:
        raise StoreError(
            f"no Icechunk store at store.url={settings.store.url!r}; create it first with the "
            "store_template rule (snakemake <results>/store/template.json)"
        ) from None


# ---- template ----------------------------------------------------------------------------
def grid_signature(grid: RegionGrid) -> dict[str, Any]:
    """What makes two grids the same store layout (JSON-able)."""
    return {
        "crs": grid.crs,
        "transform": [float(v) for v in tuple(grid.transform)[:6]],
        "shape": list(grid.shape),
        "chunks": list(grid.chunks),
    }


def _geotransform(grid: RegionGrid) -> str:
    """GDAL order: x0, pixel width, row rotation, y0, column rotation, pixel height."""
    t = grid.transform
    return " ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))


def _spatial_ref_attrs(grid: RegionGrid) -> dict[str, Any]:
    from pyproj import CRS

    crs = CRS.from_user_input(grid.crs)
    attrs = {k: v for k, v in crs.to_cf().items() if isinstance(v, str | int | float)}
    attrs.update(crs_wkt=crs.to_wkt(), spatial_ref=crs.to_wkt(), GeoTransform=_geotransform(grid))
    return attrs


def _coord_attrs(grid: RegionGrid, axis: str) -> dict[str, str]:
    if grid.is_geographic:
        name, units = ("latitude", "degrees_north") if axis == "y" else ("longitude", "degrees_east")
        return {"standard_name": name, "long_name": f"{name} of pixel centre", "units": units, "axis": axis.upper()}
    std = "projection_y_coordinate" if axis == "y" else "projection_x_coordinate"
    return {"standard_name": std, "long_name": f"{axis} of pixel centre", "units": "m", "axis": axis.upper()}


def _root_attrs(settings: Settings, grid: RegionGrid) -> dict[str, Any]:
    """The template's global attributes: provenance, layout and the region-id convention."""
    signature = grid_signature(grid)
    return {
        "title": "windrisk: wind-informed wildfire risk",
        "run_name": settings.run_name,
        "sources": list(SOURCES),
        "license": LICENSE,
        "windrisk_version": windrisk.__version__,
        "windrisk_grid": signature,
        "windrisk_variables": list(VARIABLES),
        "affine": list(signature["transform"]),
        "rows_ascend_north": bool(grid.rows_ascend_north),
        "region_id_convention": REGION_ID_CONVENTION,
        "Conventions": "CF-1.8",
    }


def template_dataset(settings: Settings, grid: RegionGrid) -> xr.Dataset:
    """The whole-grid dataset of lazy NaN arrays (nothing is computed when it is written)."""
    import dask.array as da
    import xarray as xr

    data_vars: dict[str, Any] = {
        name: (
            ("y", "x"),
            da.full(grid.shape, np.nan, chunks=grid.chunks, dtype=np.float32),
            {
                "units": units,
                "long_name": descr,
                "description": descr,
                "grid_mapping": "spatial_ref",
                "sources": list(SOURCES),
                "license": LICENSE,
            },
        )
        for name, (units, descr) in VARIABLES.items()
    }
    data_vars[WRITTEN] = (
        ("region_y", "region_x"),
        da.zeros(grid.n_chunks, chunks=(1, 1), dtype=np.uint8),
        {
            "long_name": "1 once the region (chunk row, col) is committed",
            "flag_values": [0, 1],
            "flag_meanings": "missing written",
        },
    )
    coords = {
        "y": ("y", grid.y_coords(), _coord_attrs(grid, "y")),
        "x": ("x", grid.x_coords(), _coord_attrs(grid, "x")),
        "spatial_ref": ((), np.int32(0), _spatial_ref_attrs(grid)),
    }
    return xr.Dataset(data_vars, coords=coords, attrs=_root_attrs(settings, grid))


def _template_encoding(grid: RegionGrid) -> dict[str, dict[str, Any]]:
    zstd = (zarr.codecs.ZstdCodec(level=3),)
    enc: dict[str, dict[str, Any]] = {
        name: {"chunks": grid.chunks, "_FillValue": np.float32(np.nan), "compressors": zstd} for name in VARIABLES
    }
    enc[WRITTEN] = {"chunks": (1, 1), "compressors": zstd}
    return enc


def _template_tag(settings: Settings) -> str:
    return TEMPLATE_TAG_PREFIX + settings.store.branch


def _existing_template(repo: ic.Repository, settings: Settings) -> dict[str, Any] | None:
    """The template attributes on the branch tip, or None when no template was committed yet."""
    session = repo.readonly_session(branch=settings.store.branch)
    try:
        attrs = dict(zarr.open_group(session.store, mode="r").attrs)
    except zarr.errors.GroupNotFoundError:  # a freshly created, empty repository
        return None
    return attrs if "windrisk_grid" in attrs else None


def _template_snapshot(repo: ic.Repository, settings: Settings) -> str | None:
    """The template commit: its tag (kept by expiry), else found in the ancestry."""
    try:
        return repo.lookup_tag(_template_tag(settings))
    except ic.IcechunkError:
        pass
    for info in repo.ancestry(branch=settings.store.branch):
        if info.metadata.get("windrisk", {}).get("kind") == "template":
            return info.id
    return None


def _template_differences(attrs: Mapping[str, Any], grid: RegionGrid) -> list[str]:
    diffs = []
    have, want = attrs["windrisk_grid"], grid_signature(grid)
    for key in want:
        if have.get(key) != want[key]:
            diffs.append(f"grid.{key}: store has {have.get(key)!r}, config has {want[key]!r}")
    if list(attrs.get("windrisk_variables", [])) != list(VARIABLES):
        diffs.append(f"variables: store has {attrs.get('windrisk_variables')}, code has {list(VARIABLES)}")
    return diffs


def _template_info(settings: Settings, grid: RegionGrid, snapshot_id: str | None) -> dict[str, Any]:
    return {
        "store_url": settings.store.url,
        "branch": settings.store.branch,
        "template_snapshot_id": snapshot_id,
        "grid": grid_signature(grid),
        "n_regions": list(grid.n_chunks),
        "variables": list(VARIABLES),
        "written": WRITTEN,
    }


def _open_or_create(settings: Settings) -> tuple[ic.Repository, bool]:
    """Open the repository, creating it only when nothing exists at the URL; True if we created it."""
    storage = storage_from_settings(settings)
    created = False
    if not ic.Repository.exists(storage):
        try:
            ic.Repository.create(storage, config=_new_repo_config())
            created = True
            log.info("created Icechunk repository at %s", settings.store.url)
        except ic.IcechunkError as exc:  # someone else is creating it: wait until it is there
            _wait_until_exists(settings, storage, exc)
    repo = ic.Repository.open(storage)
    branch = settings.store.branch
    if branch not in repo.list_branches():
        repo.create_branch(branch, snapshot_id=_root_snapshot(repo).id)
    return repo, created


def _new_repo_config() -> ic.RepositoryConfig:
    """Manifests split per row of chunks (saved in the repository).

    Unsplit, every region commit rewrites each array's manifest with *all* refs so far, so
    manifest bytes grow quadratically (38 MB after 200 tiny regions here, 3 MB split).
    """
    split = {ic.ManifestSplitCondition.AnyArray(): {ic.ManifestSplitDimCondition.Axis(0): 1}}
    splitting = ic.ManifestSplittingConfig.from_dict(split)
    return ic.RepositoryConfig(manifest=ic.ManifestConfig(splitting=splitting))


def _root_snapshot(repo: ic.Repository) -> ic.SnapshotInfo:
    """The repository's initial commit (Icechunk creates it on ``main``, whatever our branch)."""
    return list(repo.ancestry(branch="main"))[-1]


def _being_created(repo: ic.Repository) -> bool:
    """True while a just-created repository probably still awaits its creator's template."""
    age = datetime.now(UTC) - _root_snapshot(repo).written_at
    return age < timedelta(seconds=TEMPLATE_WAIT_S)


def _poll(ready: Callable[[], bool], timeout_s: float, pause_s: tuple[float, float]) -> bool:
    """Call ``ready`` until it is True (return True) or ``timeout_s`` has passed (return False).

    The pause between calls is drawn from ``pause_s`` so that waiting jobs do not retry in step.
    """
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() >= deadline:
            return False
        time.sleep(random.uniform(*pause_s))
    return True


def _wait_until_exists(settings: Settings, storage: ic.Storage, cause: Exception, timeout_s: float = 60) -> None:
    """Wait for a concurrent creator's repository to appear; StoreError if it never does."""
    if not _poll(lambda: bool(ic.Repository.exists(storage)), timeout_s, (0.1, 0.5)):
        raise StoreError(
            f"cannot create an Icechunk store at store.url={settings.store.url!r} ({cause}); "
            "the location holds other objects: point store.url at an empty prefix"
        ) from cause


def _commit_template(repo: ic.Repository, settings: Settings, grid: RegionGrid) -> str:
    session = repo.writable_session(settings.store.branch)
    template_dataset(settings, grid).to_zarr(
        session.store,
        mode="w",
        compute=False,
        encoding=_template_encoding(grid),
        zarr_format=3,
        consolidated=False,
    )
    meta = {
        "windrisk": {
            "kind": "template",
            "grid": grid_signature(grid),
            "variables": list(VARIABLES),
            "code_version": windrisk.__version__,
            "run_name": settings.run_name,
        }
    }
    snap = session.commit("windrisk template", metadata=meta)  # no rebase: a racing template wins
    repo.create_tag(_template_tag(settings), snapshot_id=snap)
    return snap


def ensure_template(settings: Settings, grid: RegionGrid) -> dict[str, Any]:
    """Create the store and commit the template once; a no-op when the same template exists."""
    queue = commit_settings(settings)
    with holding(commit_lease(settings), queue.patience_s, "commit the template", queue.lease_ttl_s / 4):
        for attempt in range(1, TEMPLATE_TRIES + 1):
            repo, created = _open_or_create(settings)
            attrs = _existing_template(repo, settings)
            if attrs is not None:
                _check_template(settings, attrs, grid)
                return _template_info(settings, grid, _template_snapshot(repo, settings))
            if not created and _being_created(repo):  # let its creator write the template
                time.sleep(random.uniform(0.2, 1.0))
                continue
            try:
                snap = _commit_template(repo, settings, grid)
            except ic.ConflictError as exc:  # another template job committed first: re-check it
                if attempt == TEMPLATE_TRIES:
                    raise CommitError(f"could not commit the template to {settings.store.url!r}: {exc}") from exc
                time.sleep(random.uniform(0.2, 1.0))
                continue
            log.info("committed template %s to %s", snap, settings.store.url)
            return _template_info(settings, grid, snap)
    raise CommitError(f"the template at {settings.store.url!r} was still being created after {TEMPLATE_TRIES} checks")


def _check_template(settings: Settings, attrs: Mapping[str, Any], grid: RegionGrid) -> None:
    diffs = _template_differences(attrs, grid)
    if diffs:
        raise TemplateMismatchError(
            f"the store at store.url={settings.store.url!r} was made for a different layout: "
            + "; ".join(diffs)
            + ". One store holds one grid: set store.url to a new location (or delete the old store)."
        )


# ---- commits -------------------------------------------------------------------------------
def commit_settings(settings: Settings) -> QueueSettings:
    """``store.commit`` → how long a writer waits for its group commit, polling, lease expiry."""
    c = settings.store.commit
    heartbeat_s = QueueSettings.heartbeat_s
    window = settings.store.gc.safety_window.total_seconds()
    return QueueSettings(
        patience_s=c.patience_s,
        poll_max_s=c.poll_max_s,
        lease_ttl_s=c.lease_ttl_s,
        # A waiting writer beats well within gc's window, so gc never mistakes it for a dead one.
        heartbeat_s=min(heartbeat_s, window / 4) if window > 0 else heartbeat_s,
    )


def lock_path(settings: Settings) -> Path:
    """``<store>.commit-lock`` beside a local store (outside the repository's own files)."""
    store = Path(settings.store.url).resolve()
    return store.with_name(store.name + ".commit-lock")


def queue_area(settings: Settings) -> QueueArea:
    """The group-commit queue beside the repository: ``<store>.queue``."""
    url = settings.store.url.rstrip("/")
    if not settings.store.is_object_store:
        store = Path(url).resolve()
        return LocalArea(store.with_name(store.name + ".queue"))
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return S3Area(s3_client(settings.store.s3), bucket, prefix.strip("/") + ".queue")


def commit_lease(settings: Settings, area: QueueArea | None = None) -> Lease:
    """flock beside a local store (required: its commits are unsafe concurrently); an object on S3."""
    if not settings.store.is_object_store:
        return FileLease(lock_path(settings))
    return ObjectLease(area or queue_area(settings), commit_settings(settings).lease_ttl_s)


def group_committer(settings: Settings) -> GroupCommitter:
    area = queue_area(settings)
    return GroupCommitter(
        area=area,
        lease=commit_lease(settings, area),
        open_repo=lambda: open_repo(settings),
        branch=settings.store.branch,
        metadata_of=lambda records: _group_metadata(settings, records),
        settings=commit_settings(settings),
    )


def _group_metadata(settings: Settings, records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One commit's metadata: each region's record, provenances stored once (they repeat)."""
    provenances: list[dict[str, Any]] = []
    regions: dict[str, dict[str, Any]] = {}
    for ticket, record in records.items():
        prov = {k: record[k] for k in PROVENANCE_KEYS}
        if prov not in provenances:
            provenances.append(prov)
        regions[record["region_id"]] = {
            **{k: v for k, v in record.items() if k not in PROVENANCE_KEYS and k != "region_id"},
            "provenance": provenances.index(prov),
            "ticket": ticket,
        }
    return {
        "windrisk": {
            "kind": "regions",
            "run_name": settings.run_name,
            "provenances": provenances,
            "regions": regions,
        }
    }


def region_records(info: ic.SnapshotInfo) -> dict[str, dict[str, Any]]:
    """Region id → what its commit recorded (provenance, data hash, base) for a region commit."""
    meta = info.metadata.get("windrisk", {})
    if meta.get("kind") == "region":  # one region per commit (stores written before group commits)
        return {rid: dict(meta) for rid in meta.get("region_ids", [])}
    if meta.get("kind") != "regions":
        return {}
    provenances = meta["provenances"]
    return {
        rid: {**{k: v for k, v in rec.items() if k != "provenance"}, **provenances[rec["provenance"]]}
        for rid, rec in meta["regions"].items()
    }


# ---- region data -----------------------------------------------------------------------------
def _region_arrays(grid: RegionGrid, rid: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Check names and shapes; return contiguous float32 arrays in VARIABLES order with canonical
    NaNs (the caller's own arrays wherever they already are: nothing here writes to them)."""
    missing = [n for n in VARIABLES if n not in arrays]
    extra = [n for n in arrays if n not in VARIABLES]
    if missing or extra:
        raise ValueError(
            f"region {rid}: arrays must be exactly {list(VARIABLES)}; missing {missing}, unexpected {extra}"
        )
    shape = grid.region_window(rid).shape
    out = {}
    for name in VARIABLES:
        arr = np.asarray(arrays[name], dtype=np.float32)
        if arr.shape != shape:
            raise ValueError(f"region {rid}: array {name!r} has shape {arr.shape}, the region is {shape}")
        out[name] = _canonical_nan(arr)
    return out


CANONICAL_NAN_BITS = np.float32(np.nan).view(np.uint32)  # 0x7fc00000; 0/0 gives 0xffc00000


def _canonical_nan(arr: np.ndarray) -> np.ndarray:
    """``arr`` as contiguous float32 with one NaN bit pattern, so hashes match the store's all-NaN
    chunks. Copied only when it is not so already (a region is ~0.9 GB: copies cost seconds)."""
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    nan = np.isnan(arr)
    if nan.any() and not (arr[nan].view(np.uint32) == CANONICAL_NAN_BITS).all():
        return np.where(nan, np.float32(np.nan), arr)
    return arr


def _sha256_of(arrays: Iterable[np.ndarray]) -> str:
    """SHA-256 over the bytes of contiguous arrays, hashed in place (no copy)."""
    digest = hashlib.sha256()
    for arr in arrays:
        digest.update(arr)
    return digest.hexdigest()


def data_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the region's float32 arrays in VARIABLES order (NaNs canonicalised)."""
    return _sha256_of(_canonical_nan(arrays[name]) for name in VARIABLES)


def _write_chunks(session: ic.Session, grid: RegionGrid, rid: str, arrays: Mapping[str, np.ndarray]) -> None:
    group = zarr.open_group(session.store, mode="r+")
    rows, cols = grid.region_slices(rid)
    for name in VARIABLES:
        group[name][rows, cols] = arrays[name]
    group[WRITTEN][grid.chunk_index(rid)] = 1


def _read_session_region(session: ic.Session, grid: RegionGrid, rid: str) -> dict[str, np.ndarray]:
    group = zarr.open_group(session.store, mode="r")
    rows, cols = grid.region_slices(rid)
    return {name: np.asarray(group[name][rows, cols], dtype=np.float32) for name in VARIABLES}


NATIVE_CHUNK, INLINE_CHUNK = 1, 3  # ``array_chunk_iterator``'s kinds: own object, bytes in the manifest
ChunkRefs = dict[str, str | None]  # variable → one chunk's ref, as ``_chunk_ref`` writes it


async def _chunk_ref(session: ic.Session | ic.ForkSession, name: str, index: tuple[int, int]) -> str | None:
    """Array ``name``'s ref of chunk ``index``: the chunk id of a chunk stored as its own object,
    ``inline:<sha256>`` of bytes kept in the manifest, ``virtual:<url>``, or None when no chunk is
    stored (all fill value). Reads manifests only."""
    async with contextlib.aclosing(session.store.array_chunk_iterator(name)) as batches:
        async for coords, kinds, paths, _offsets, _lengths, inlined in batches:
            for row in np.flatnonzero((coords == index).all(axis=1)).tolist():
                if kinds[row] == INLINE_CHUNK:
                    return "inline:" + hashlib.sha256(inlined[row]).hexdigest()
                return paths[row] if kinds[row] == NATIVE_CHUNK else f"virtual:{paths[row]}"
    return None


async def _region_chunk_refs(session: ic.Session | ic.ForkSession, grid: RegionGrid, rid: str) -> ChunkRefs:
    index = grid.chunk_index(rid)
    refs = await asyncio.gather(*(_chunk_ref(session, name, index) for name in VARIABLES))
    return dict(zip(VARIABLES, refs, strict=True))


def region_chunk_refs(session: ic.Session | ic.ForkSession, grid: RegionGrid, rid: str) -> ChunkRefs:
    """Variable → ref of region ``rid``'s chunk in ``session`` (``_chunk_ref``), every variable's
    manifests read concurrently; a fork's own uncommitted writes included."""
    return sync(_region_chunk_refs(session, grid, rid))


def _native_ids(refs: ChunkRefs) -> list[str]:
    """The chunk ids among ``refs`` (not inline, virtual or absent chunks)."""
    return [ref for ref in refs.values() if ref is not None and ":" not in ref]


def _chunk_object_exists(settings: Settings, repo: ic.Repository, chunk_id: str) -> bool:
    """True when ``chunks/<chunk_id>`` is stored, without reading it: on S3 one listing with the
    id as prefix; on a local store a stat (Icechunk's local backend lists directories only, so
    the same listing finds nothing there)."""
    if not settings.store.is_object_store:
        return (Path(settings.store.url).resolve() / "chunks" / chunk_id).is_file()
    objects = repo.storage.list_objects_metadata(settings=repo.config.storage, prefix=f"chunks/{chunk_id}")
    return any(obj.key.rsplit("/", 1)[-1] in ("", chunk_id) for obj in objects)  # keys are relative to the prefix


def _written_mark(session: ic.Session, grid: RegionGrid, rid: str) -> int:
    """The region's ``written`` mark (0 or 1) in ``session``."""
    return int(zarr.open_array(session.store, path=WRITTEN, mode="r")[grid.chunk_index(rid)])


def _branch_commit(repo: ic.Repository, branch: str, snapshot_id: str) -> ic.SnapshotInfo | None:
    """``snapshot_id``'s commit when it is in the branch's ancestry (a fresh commit sits near the tip)."""
    return next((info for info in repo.ancestry(branch=branch) if info.id == snapshot_id), None)


def _proof(
    settings: Settings, grid: RegionGrid, rid: str, snapshot_id: str, refs: ChunkRefs
) -> tuple[ic.SnapshotInfo | None, str]:
    """(the commit, "") when the region is provably committed at ``snapshot_id``, else (None, why not):
    the snapshot is on the branch, the mark is set and it references exactly the chunks this job
    wrote (``refs``). Reads manifests only (see the module's "Proof.")."""
    repo = open_repo(settings)  # fresh handle: sees the branch as it is now
    info = _branch_commit(repo, settings.store.branch, snapshot_id)
    if info is None:
        return None, f"snapshot {snapshot_id} is not on branch {settings.store.branch!r}"
    session = repo.readonly_session(snapshot_id=snapshot_id)
    if _written_mark(session, grid, rid) != 1:
        return None, f"written mark of {rid} is 0 at {snapshot_id}"
    got = region_chunk_refs(session, grid, rid)
    return (
        (info, "") if got == refs else (None, f"chunk refs of {rid} at {snapshot_id} are {got}, this job wrote {refs}")
    )


def region_config_hash(settings: Settings) -> str:
    """Hash of the config that decides a region's values: the grid and its buffer and the method
    (not the list of data regions, the store location or the run's name)."""
    grid = {k: v for k, v in dataclasses.asdict(settings.grid).items() if k != "data_regions"}
    method = {"compat": settings.method.compat} if settings.method.compat is not None else {}
    # The method only enters when set, so regions of runs made before it existed keep their hash.
    return config_hash({"grid": grid, "method": method} if method else {"grid": grid})


def region_provenance(
    settings: Settings, identities: Mapping[str, Any], code_version: str | None = None
) -> dict[str, Any]:
    """What a region is made from: code version (default: the wind stage's as run from this
    checkout, ``codeversion.wind_version``), ``region_config_hash`` and the identity of every
    input it read (``inputs.identity``, keyed as in the config). Adoption compares exactly this."""
    return {
        "code_version": code_version or codeversion.wind_version(),
        "config_hash": region_config_hash(settings),
        "inputs": json.loads(json.dumps(dict(identities), sort_keys=True, default=str)),
    }


def write_region(
    settings: Settings,
    grid: RegionGrid,
    rid: str,
    arrays: Mapping[str, np.ndarray],
    provenance: Mapping[str, Any],
) -> dict[str, Any]:
    """Write one region's arrays and its done-mark, have them committed, prove it; return the sentinel.

    ``provenance``: ``code_version``, ``config_hash`` (defaults: as in ``region_provenance``) and
    ``inputs`` (name → identity), recorded in the commit so the region can be adopted later.
    """
    with step("hash"):
        clean = _region_arrays(grid, rid, arrays)
        sha = _sha256_of(clean.values())  # already canonical, in VARIABLES order
    record = {
        "region_id": rid,
        "data_sha256": sha,
        "all_nan": all(bool(np.isnan(a).all()) for a in clean.values()),
        "code_version": str(provenance.get("code_version") or codeversion.wind_version()),
        "config_hash": str(provenance.get("config_hash") or region_config_hash(settings)),
        "inputs": json.loads(json.dumps(provenance.get("inputs", {}), default=str)),  # commit metadata is JSON
    }
    committer = group_committer(settings)
    reason = ""
    for landing in range(1, PROOF_TRIES + 1):
        ticket = new_ticket(rid)
        with committer.registered(ticket):
            fork, wrote = _forked_write(settings, grid, rid, clean)
            with step("commit"):
                committer.submit(ticket, fork, {**record, **wrote})
                try:
                    snap = committer.wait(ticket)
                except QueueError as exc:
                    raise CommitError(f"region {rid}: {exc}") from None
        with step("proof"):
            info, reason = _proof(settings, grid, rid, snap, wrote["chunk_refs"])
        if info is not None:
            log.info("region %s committed as %s (try %d)", rid, snap, landing)
            return sentinel_from_commit(settings, rid, info)
        log.warning("region %s: commit %s did not land (%s); writing it again", rid, snap, reason)
    raise CommitError(
        f"region {rid}: commit could not be proven after {PROOF_TRIES} tries ({reason}). "
        "Fix: make sure every writer of this store is windrisk (which takes the commit lease), then rerun"
    )


def _forked_write(
    settings: Settings, grid: RegionGrid, rid: str, clean: Mapping[str, np.ndarray]
) -> tuple[ic.ForkSession, dict[str, Any]]:
    """Write the region's chunks and mark through a fork of the branch tip; return the fork and
    what its commit record gains: the base snapshot and the fork's ``chunk_refs`` of the region."""
    with step("write chunks"):
        session = open_repo(settings).writable_session(settings.store.branch)
        fork = session.fork()  # chunks are written now, in parallel; the lease holder commits the refs
        _write_chunks(fork, grid, rid, clean)
    with step("chunk refs"):
        refs = region_chunk_refs(fork, grid, rid)  # a fork's iterator shows its own uncommitted writes
    return fork, {"base_snapshot_id": session.snapshot_id, "chunk_refs": refs}


def commit_waiting(settings: Settings) -> int:
    """Commit the regions whose writers handed them over but died before they landed."""
    committer = group_committer(settings)
    queue = committer.settings
    with holding(committer.lease, queue.patience_s, "commit waiting regions", queue.lease_ttl_s / 4):
        return committer.commit_pending()


def sentinel_from_commit(settings: Settings, rid: str, info: ic.SnapshotInfo) -> dict[str, Any]:
    """The sentinel of region ``rid`` committed as ``info``: a function of the commit alone, so a
    sentinel rebuilt from the store (``adopt_regions``) is byte-identical to the one first written
    and nothing downstream re-runs."""
    meta = region_records(info)[rid]
    return {
        "region_id": rid,
        "snapshot_id": info.id,
        "branch": settings.store.branch,
        "store_url": settings.store.url,
        "data_sha256": meta["data_sha256"],
        "all_nan": meta["all_nan"],
        "written_at": info.written_at.isoformat(),
        "code_version": meta["code_version"],
        "config_hash": meta["config_hash"],
        "inputs": meta["inputs"],
        "base_snapshot_id": meta["base_snapshot_id"],
    }


# ---- sentinels ---------------------------------------------------------------------------
def write_sentinel(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Write a region sentinel atomically (temp file + rename)."""
    missing = [k for k in SENTINEL_KEYS if k not in payload]
    if missing:
        raise ValueError(f"sentinel for {path} lacks keys {missing}; pass write_region's return value")
    write_json_atomic(path, dict(payload))


def read_sentinel(path: str | Path) -> dict[str, Any]:
    """Read a region sentinel; StoreError when it is unreadable or incomplete."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StoreError(f"region sentinel {path} is unreadable ({exc}); delete it to re-run the region") from None
    missing = [k for k in SENTINEL_KEYS if k not in payload] if isinstance(payload, dict) else list(SENTINEL_KEYS)
    if missing:
        raise StoreError(f"region sentinel {path} lacks keys {missing}; delete it to re-run the region")
    return payload


# ---- reading -----------------------------------------------------------------------------
def open_dataset_at(settings: Settings, snapshot_id: str) -> xr.Dataset:
    """The whole store as it was at ``snapshot_id`` (lazy; only touched chunks are read)."""
    import xarray as xr

    session = open_repo(settings).readonly_session(snapshot_id=snapshot_id)
    return xr.open_zarr(session.store, consolidated=False, zarr_format=3, chunks=None)


def read_region(settings: Settings, grid: RegionGrid, rid: str, snapshot_id: str) -> dict[str, np.ndarray]:
    """One region's float32 arrays (VARIABLES order) at ``snapshot_id``."""
    session = open_repo(settings).readonly_session(snapshot_id=snapshot_id)
    return _read_session_region(session, grid, rid)


def open_group_at(settings: Settings, snapshot_id: str, repo: ic.Repository | None = None) -> zarr.Group:
    """The store's root group at ``snapshot_id``, read only (only touched chunks are fetched)."""
    session = (repo or open_repo(settings)).readonly_session(snapshot_id=snapshot_id)
    return zarr.open_group(session.store, mode="r")


def region_groups(settings: Settings, snapshots: Mapping[str, str]) -> Iterator[tuple[str, zarr.Group]]:
    """(region id, root group showing the region as at its snapshot) for ``snapshots`` {rid: id}.

    Opens the repository once and lists the branch once. A region whose snapshot is still its
    newest commit on the branch is read at the branch tip (later commits write only other
    regions' chunks), so all of those share one session; any other region gets a session at its
    own snapshot, one per distinct snapshot. Measured: see ``windrisk.report.overview_frames``.
    """
    repo = open_repo(settings)
    ancestry = list(repo.ancestry(branch=settings.store.branch))
    latest = latest_region_commits(ancestry)
    opened: dict[str, zarr.Group] = {}
    for rid, snapshot_id in snapshots.items():
        newest = latest.get(rid)
        at = ancestry[0].id if newest is not None and newest.id == snapshot_id else snapshot_id
        if at not in opened:
            opened[at] = open_group_at(settings, at, repo)
        yield rid, opened[at]


# ---- done-ness -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionState:
    """One region's done-ness: ``state`` is done, missing, stale or unrecorded."""

    region_id: str
    state: str
    snapshot_id: str | None
    reason: str
    sentinel: str


@dataclass(frozen=True)
class BranchView:
    """The branch tip as read once: the written marks and the ancestry snapshot ids.

    ``lost``: region (row, col) → the chunk objects its data needs that storage no longer holds;
    ``written`` is cleared for those regions, so nothing (status, adoption) takes them as written.
    """

    exists: bool
    snapshot_id: str | None
    written: np.ndarray
    ancestry: frozenset[str]
    store_url: str
    lost: Mapping[tuple[int, int], tuple[str, ...]] = field(default_factory=dict)


def branch_view(settings: Settings, grid: RegionGrid, *, fail_fast: bool = False) -> BranchView:
    """One readonly session: read ``written`` once, list the ancestry once."""
    if not store_exists(settings, fail_fast=fail_fast):
        return _no_store_view(settings, grid)
    return _branch_view_of(open_repo(settings, fail_fast=fail_fast), settings, grid)


def _no_store_view(settings: Settings, grid: RegionGrid) -> BranchView:
    """The view when no repository exists: nothing written, no snapshots."""
    return BranchView(False, None, np.zeros(grid.n_chunks, dtype=np.uint8), frozenset(), settings.store.url)


def _branch_view_of(repo: ic.Repository, settings: Settings, grid: RegionGrid) -> BranchView:
    """``branch_view`` of an already opened repository (saves a second open per command)."""
    empty = np.zeros(grid.n_chunks, dtype=np.uint8)
    if settings.store.branch not in repo.list_branches():
        return BranchView(True, None, empty, frozenset(), settings.store.url)
    session = repo.readonly_session(branch=settings.store.branch)
    try:
        written = np.asarray(zarr.open_array(session.store, path=WRITTEN, mode="r")[:], dtype=np.uint8)
    except (KeyError, FileNotFoundError, zarr.errors.NodeNotFoundError):
        written = empty  # the template was never committed
    ancestry = frozenset(info.id for info in repo.ancestry(snapshot_id=session.snapshot_id))
    lost = _lost_chunks(repo, session) if written.any() else {}  # no region written: nothing to lose
    for index in lost:
        written[index] = 0
    return BranchView(True, session.snapshot_id, written, ancestry, settings.store.url, lost)


async def _native_chunk_refs(session: ic.Session, name: str) -> list[tuple[tuple[int, int], str]]:
    """(chunk index, chunk id) of each of array ``name``'s chunks stored as an object (not inline)."""
    refs = []
    async for coords, kinds, ids, *_ in session.store.array_chunk_iterator(name):
        refs += [
            ((c[0], c[1]), cid)
            for c, kind, cid in zip(coords.tolist(), kinds.tolist(), ids, strict=True)
            if kind == NATIVE_CHUNK
        ]
    return refs


def _stored_chunk_ids(repo: ic.Repository) -> frozenset[str]:
    """Ids of the objects under ``chunks/``: one listing (1000 keys per S3 page)."""
    objects = repo.storage.list_objects_metadata(settings=repo.config.storage, prefix="chunks/")
    return frozenset(obj.key.rsplit("/", 1)[-1] for obj in objects)


async def _all_chunk_refs(session: ic.Session) -> list[list[tuple[tuple[int, int], str]]]:
    """Every variable's chunk refs, fetched concurrently (latency-bound)."""
    return await asyncio.gather(*(_native_chunk_refs(session, name) for name in VARIABLES))


def _lost_chunks(repo: ic.Repository, session: ic.Session) -> dict[tuple[int, int], tuple[str, ...]]:
    """Region (row, col) → ``"<variable> chunks/<id>"`` of each chunk the session's snapshot
    references but storage lacks.

    Reading every region's data would take a GET per chunk; this reads each array's manifests and
    lists ``chunks/`` once. The listing starts after the snapshot was fixed, so a concurrent
    writer's new chunks cannot look lost; only deleted ones do. Measured on a CONUS-shaped store
    (17 x 47 regions, 8 variables, 6392 chunks): 0.7-1.3 s local; on moto 5 s refs, 12-20 s listing.

    The listing runs before the refs, not beside them: icechunk's blocking listing keeps the GIL
    while it waits on icechunk's runtime, whose threads then cannot hand the refs' results back to
    Python, and both wait forever (seen with py-spy in tests/test_store_concurrency.py).
    """
    stored = _stored_chunk_ids(repo)
    refs = sync(_all_chunk_refs(session))
    lost: dict[tuple[int, int], tuple[str, ...]] = {}
    for name, variable_refs in zip(VARIABLES, refs, strict=True):
        for index, chunk_id in variable_refs:
            if chunk_id not in stored:
                lost[index] = (*lost.get(index, ()), f"{name} chunks/{chunk_id}")
    return lost


def _lost_reason(objects: Sequence[str]) -> str:
    """Why a region with deleted chunk objects is not done."""
    shown = ", ".join(objects[:3]) + (" …" if len(objects) > 3 else "")
    return f"{len(objects)} chunk object(s) of its data are gone from the store ({shown})"


def sentinel_path(paths: RunPaths, rid: str) -> Path:
    """Where region ``rid``'s sentinel lives in this run."""
    return Path(paths.region(paths.region_sentinel_pattern, rid))


def _classify(view: BranchView, grid: RegionGrid, rid: str, path: Path) -> RegionState:
    mark = bool(view.written[grid.chunk_index(rid)])
    lost = view.lost.get(grid.chunk_index(rid))
    if not path.exists():
        if lost:
            return RegionState(rid, "missing", None, f"committed, but {_lost_reason(lost)}", str(path))
        if mark:
            return RegionState(rid, "unrecorded", None, "written on the branch but no sentinel", str(path))
        return RegionState(rid, "missing", None, "not written", str(path))
    try:
        sentinel = read_sentinel(path)
    except StoreError as exc:
        return RegionState(rid, "stale", None, str(exc), str(path))
    snap = sentinel["snapshot_id"]
    if sentinel["store_url"] != view.store_url:
        why = f"it names the store {sentinel['store_url']!r}, this run writes {view.store_url!r}"
        return RegionState(rid, "stale", snap, why, str(path))
    if not view.exists:
        return RegionState(rid, "stale", snap, "the store it names does not exist", str(path))
    if snap not in view.ancestry:
        why = "its snapshot is not on the branch (store reset, recreated or commit lost)"
        return RegionState(rid, "stale", snap, why, str(path))
    if lost:
        return RegionState(rid, "stale", snap, _lost_reason(lost), str(path))
    if not mark:
        return RegionState(rid, "stale", snap, "the written mark is 0 on the branch", str(path))
    return RegionState(rid, "done", snap, "", str(path))


def region_status(
    settings: Settings,
    grid: RegionGrid,
    region_ids: Sequence[str],
    paths: RunPaths,
    *,
    view: BranchView | None = None,
) -> list[RegionState]:
    """Done-ness of each region from the store's marks, ancestry and chunk objects, cross-checked with sentinels."""
    view = view or branch_view(settings, grid)
    return [_classify(view, grid, rid, sentinel_path(paths, rid)) for rid in region_ids]


def reconcile_sentinels(
    settings: Settings,
    grid: RegionGrid,
    paths: RunPaths,
    region_ids: Sequence[str],
    *,
    view: BranchView | None = None,
) -> list[str]:
    """Rename stale sentinels to ``<name>.stale`` so Snakemake re-runs them; return their ids."""
    moved = []
    for state in region_status(settings, grid, region_ids, paths, view=view):
        if state.state == "stale" and Path(state.sentinel).exists():
            os.replace(state.sentinel, state.sentinel + ".stale")
            moved.append(state.region_id)
    return moved


def reconcile_at_parse_time(
    settings: Settings,
    grid: RegionGrid,
    paths: RunPaths,
    region_ids: Sequence[str],
    provenance: Callable[[], Mapping[str, Any] | None] | None = None,
) -> list[str]:
    """The Snakefile hook: set aside stale sentinels, then adopt regions the store already holds.

    A missing store makes every sentinel (and the template record) stale, loudly. ``provenance``
    gives this run's expected region provenance (``region_provenance``), or None when it cannot
    be known (an input not yet made or not reachable): then nothing is adopted. Errors reaching
    the store are printed, never raised: a parse-time check must not stop the workflow.
    """
    present = [rid for rid in region_ids if sentinel_path(paths, rid).exists()]
    template = Path(paths.store_template)
    fresh_local = not settings.store.is_object_store and not Path(settings.store.url).exists()
    if fresh_local and not present and not template.exists():
        return []  # nothing to set aside or adopt, and no I/O beyond a stat
    try:
        view = branch_view(settings, grid, fail_fast=True)
        moved = reconcile_sentinels(settings, grid, paths, region_ids, view=view)
        if not view.exists and template.exists():
            os.replace(template, str(template) + ".stale")
        adopted = []
        if view.exists and len(present) - len(moved) < len(region_ids) and provenance is not None:
            expected = provenance()
            if expected is not None:
                adopted = [
                    a.region_id
                    for a in adopt_regions(settings, grid, paths, region_ids, expected, view=view)
                    if a.adopted
                ]
    except Exception as exc:  # noqa: BLE001 - a parse-time check must never stop the workflow
        print(f"windrisk: could not check region sentinels against {settings.store.url}: {exc}", file=sys.stderr)
        return []
    if moved:
        why = (
            "the store they name is gone"
            if not view.exists
            else f"their snapshots are not on branch {settings.store.branch!r} or their chunks are gone"
        )
        print(
            f"windrisk: {len(moved)} region sentinel(s) set aside as *.stale, {why}; these regions will be "
            f"recomputed: {_shown(moved)}",
            file=sys.stderr,
        )
    if adopted:
        print(
            f"windrisk: {len(adopted)} region(s) adopted from the store (same inputs, config and code; "
            f"sentinels rewritten, nothing recomputed): {_shown(adopted)}",
            file=sys.stderr,
        )
    return moved


def _shown(ids: Sequence[str], limit: int = 10) -> str:
    return ", ".join(ids[:limit]) + (" …" if len(ids) > limit else "")


def expected_provenance(
    settings: Settings,
    paths: RunPaths,
    code_version: str | None = None,
    *,
    planned: Any = None,
    cache: Any = None,
) -> dict[str, Any] | None:
    """The provenance a region computed now would record (``region_provenance``: ``code_version``
    is the wind stage's, as the Snakefile passes it), or None while an input cannot be identified.
    ``planned``: the rasters group's ``inputs.GroupIdentity`` when the caller has it (the
    Snakefile), else identified here."""
    from windrisk import inputs
    from windrisk.paths import produced_inputs

    cache = cache or inputs.HashCache(paths.identity_cache)
    if planned is None:
        planned = inputs.plan_identities(settings, produced_inputs(settings), cache, groups=("rasters",))["rasters"]
    derived = None if settings.inputs.wind.distribution else paths.wind_distribution
    identities = inputs.region_input_identities(settings, planned, derived, cache)
    return None if identities is None else region_provenance(settings, identities, code_version)


@dataclass(frozen=True)
class Adoption:
    """One region without a sentinel: adopted from the store, or why not."""

    region_id: str
    adopted: bool
    reason: str
    snapshot_id: str | None = None


def latest_region_commits(ancestry: Iterable[ic.SnapshotInfo]) -> dict[str, ic.SnapshotInfo]:
    """Region id → its newest commit in a branch's ``ancestry`` (newest first; expired snapshots
    are gone from it)."""
    latest: dict[str, ic.SnapshotInfo] = {}
    for info in ancestry:
        for rid in region_records(info):
            latest.setdefault(rid, info)
    return latest


def provenance_differences(recorded: Mapping[str, Any], expected: Mapping[str, Any]) -> list[str]:
    """Which of code version, config hash and input identities differ (empty: the same)."""
    out = [key for key in ("code_version", "config_hash") if recorded.get(key) != expected.get(key)]
    have, want = recorded.get("inputs", {}), expected.get("inputs", {})
    out += [f"inputs.{key}" for key in sorted(set(have) | set(want)) if have.get(key) != want.get(key)]
    return out


def adopt_regions(
    settings: Settings,
    grid: RegionGrid,
    paths: RunPaths,
    region_ids: Sequence[str],
    expected: Mapping[str, Any],
    *,
    view: BranchView | None = None,
    dry_run: bool = False,
) -> list[Adoption]:
    """Rewrite the sentinel of each region that has none but whose newest commit on the branch has
    the ``expected`` provenance: its result is already in the store, so nothing is recomputed."""
    view = view or branch_view(settings, grid)
    missing = [rid for rid in region_ids if not sentinel_path(paths, rid).exists()]
    if not missing or not view.exists:
        return []
    repo = open_repo(settings, fail_fast=True)
    latest = latest_region_commits(repo.ancestry(branch=settings.store.branch))
    out = []
    for rid in missing:
        adoption = _adoption(view, latest, grid, rid, expected)
        if adoption.adopted and not dry_run:
            write_sentinel(sentinel_path(paths, rid), sentinel_from_commit(settings, rid, latest[rid]))
        out.append(adoption)
    return out


def _adoption(
    view: BranchView, latest: Mapping[str, ic.SnapshotInfo], grid: RegionGrid, rid: str, expected: Mapping[str, Any]
) -> Adoption:
    info = latest.get(rid)
    if not view.written[grid.chunk_index(rid)] or info is None:
        return Adoption(rid, False, "the store holds no commit of it on the branch")
    differences = provenance_differences(region_records(info)[rid], expected)
    if differences:
        return Adoption(rid, False, f"made from other {', '.join(differences)}", info.id)
    return Adoption(rid, True, "", info.id)


def committed_sentinel(
    settings: Settings, grid: RegionGrid, rid: str, expected: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The sentinel of ``rid`` when the branch already holds it as its newest commit of ``rid``
    recorded it, with the ``expected`` provenance (a retried group job, a killed job whose region
    landed), else None: compute it. Reads only this region: its mark at the tip, the ancestry up to
    its newest commit, and its chunk refs and objects (``_unheld``); every wind job calls this, so
    nothing here scales with the store."""
    if not store_exists(settings):
        return None
    repo = open_repo(settings)
    branch = settings.store.branch
    if branch not in repo.list_branches():
        return None
    tip = repo.readonly_session(branch=branch)
    try:
        if not _written_mark(tip, grid, rid):
            return None
    except (KeyError, FileNotFoundError, zarr.errors.NodeNotFoundError):
        return None  # the template was never committed
    info = next((i for i in repo.ancestry(snapshot_id=tip.snapshot_id) if rid in region_records(i)), None)
    if info is None:
        return None
    record = region_records(info)[rid]
    if provenance_differences(record, expected) or "data_sha256" not in record:
        return None
    why = _unheld(settings, repo, tip, info, grid, rid, record)
    if why:
        log.warning("region %s: committed as %s, but %s; computing it again", rid, info.id, why)
        return None
    return sentinel_from_commit(settings, rid, info)


def _unheld(
    settings: Settings,
    repo: ic.Repository,
    tip: ic.Session,
    info: ic.SnapshotInfo,
    grid: RegionGrid,
    rid: str,
    record: Mapping[str, Any],
) -> str:
    """Why the branch no longer holds region ``rid`` as its commit ``info`` recorded it, or "".

    A record with ``chunk_refs``: the tip must reference exactly those chunks and every chunk
    object must still be stored (gc, deletion by hand): manifests and one request per chunk, no
    data read. The tip, where later reads look, rather than ``info``: the chunk ids are fresh ones
    only ``info``'s fork wrote, so the tip naming them says ``info`` did too, and a later commit
    that changed the region without recording it is caught. Records written before chunk refs
    were recorded fall back to reading the data at ``info`` and comparing ``data_sha256``.
    """
    try:
        if "chunk_refs" not in record:
            got = data_sha256(_read_session_region(repo.readonly_session(snapshot_id=info.id), grid, rid))
            return "" if got == record["data_sha256"] else f"its data hashes to {got}, not {record['data_sha256']}"
        refs = region_chunk_refs(tip, grid, rid)
        if refs != record["chunk_refs"]:
            return f"the branch tip references chunks {refs}, the commit recorded {record['chunk_refs']}"
        # One by one: Icechunk's blocking listings in threads beside its async reads deadlocked (S3).
        gone = [
            f"chunks/{chunk_id}" for chunk_id in _native_ids(refs) if not _chunk_object_exists(settings, repo, chunk_id)
        ]
    except READ_ERRORS as exc:
        return f"the store could not be read ({_read_failure(exc)})"
    return _lost_reason(gone) if gone else ""


# ---- verify and gc -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Verification:
    """One sentinel checked against the store: ``ok`` or the reason it failed."""

    region_id: str
    ok: bool
    reason: str


def verify_regions(
    settings: Settings,
    grid: RegionGrid,
    paths: RunPaths,
    region_ids: Sequence[str],
) -> list[Verification]:
    """Every present sentinel: snapshot on the branch, mark set, data matches ``data_sha256``."""
    repo = open_repo(settings) if store_exists(settings) else None
    view = _branch_view_of(repo, settings, grid) if repo is not None else _no_store_view(settings, grid)
    results = []
    for rid in region_ids:
        path = sentinel_path(paths, rid)
        if not path.exists():
            continue
        results.append(_verify_one(repo, view, grid, rid, path))
    return results


# How a region's data can fail to read: Icechunk (object not found, storage), zarr (metadata),
# the OS, and the codecs, which report a corrupt chunk as RuntimeError (zstd) or ValueError (size).
OBJECT_IN_ERROR = re.compile(r'path="([^"]+)"')  # the object an Icechunk storage error is about


def _read_failure(exc: BaseException) -> str:
    """One line for a failed read: the error's first line and, when Icechunk names it, the object."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    found = OBJECT_IN_ERROR.search(text)
    return f"{first}: {found.group(1)}" if found else first


def _recompute_fix(path: Path) -> str:
    """What makes Snakemake recompute a region: its sentinel is the region rule's output."""
    return f"delete {path} and rerun snakemake to recompute the region"


def _verify_one(repo: ic.Repository | None, view: BranchView, grid: RegionGrid, rid: str, path: Path) -> Verification:
    try:
        sentinel = read_sentinel(path)
    except StoreError as exc:
        return Verification(rid, False, str(exc))
    snap = sentinel["snapshot_id"]
    if repo is None or snap not in view.ancestry:
        return Verification(rid, False, f"snapshot {snap} is not on the branch")
    lost = view.lost.get(grid.chunk_index(rid))
    if lost:
        set_aside = "the next snakemake run sets the sentinel aside itself (store.reconcile_sentinels)"
        return Verification(rid, False, f"{_lost_reason(lost)}; {set_aside}, or {_recompute_fix(path)}")
    if not view.written[grid.chunk_index(rid)]:
        return Verification(rid, False, "written mark is 0 on the branch")
    try:
        got = data_sha256(_read_session_region(repo.readonly_session(snapshot_id=snap), grid, rid))
    except READ_ERRORS as exc:
        return Verification(
            rid, False, f"its data at {snap} is unreadable ({_read_failure(exc)}); {_recompute_fix(path)}"
        )
    if got != sentinel["data_sha256"]:
        return Verification(rid, False, f"data at {snap} hashes to {got}, sentinel says {sentinel['data_sha256']}")
    return Verification(rid, True, "")


def collect_garbage(
    settings: Settings,
    grid: RegionGrid,
    paths: RunPaths,
    region_ids: Sequence[str],
    older_than: timedelta,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Expire old snapshots and delete unreachable objects, never what a run may still reference.

    Refuses while a writer is live or regions wait to be committed (their chunks are referenced by
    no snapshot yet). Holds the commit lease, so no commit lands meanwhile. The cutoff is
    ``now - older_than`` but never later than ``now - store.gc.safety_window_s`` (chunks written
    around the check, clock skew) nor than the oldest snapshot a valid sentinel names (downstream
    jobs read there).
    """
    window = settings.store.gc.safety_window
    committer = group_committer(settings)
    queue = committer.settings
    with holding(committer.lease, queue.patience_s, "collect garbage", queue.lease_ttl_s / 4):
        live, abandoned = committer.live_writers(window.total_seconds())
        waiting = committer.pending()
        if live or waiting:
            raise StoreError(
                f"a run is writing to {settings.store.url!r}: {len(live)} live writer(s) "
                f"({_shown([ticket_label(t) for t in live])}), {len(waiting)} region(s) waiting to be committed. "
                "Run gc after the run; if its jobs were killed, `windrisk store commit-waiting` commits "
                "what they handed over"
            )
        repo = open_repo(settings)
        now = datetime.now(UTC)
        cutoff, why = now - older_than, "--older-than"
        if now - window < cutoff:
            cutoff, why = now - window, "store.gc.safety_window_s"
        view = _branch_view_of(repo, settings, grid)
        kept = [
            s.snapshot_id
            for s in region_status(settings, grid, region_ids, paths, view=view)
            if s.state == "done" and s.snapshot_id
        ]
        if kept:
            oldest = min(repo.lookup_snapshot(snap).written_at for snap in kept)
            if oldest < cutoff:
                cutoff, why = oldest, "the oldest snapshot a region sentinel names"
        report: dict[str, Any] = {
            "cutoff": cutoff.isoformat(),
            "cutoff_set_by": why,
            "dry_run": dry_run,
            "kept_for_sentinels": len(kept),
            "abandoned_writers": len(abandoned),
        }
        if dry_run:
            report["would_expire"] = sum(
                1 for info in repo.ancestry(branch=settings.store.branch) if info.written_at < cutoff
            )
            summary = repo.garbage_collect(cutoff, dry_run=True)
        else:
            report["expired"] = len(repo.expire_snapshots(cutoff))
            summary = repo.garbage_collect(cutoff)
            for ticket in abandoned:  # killed writers: their orphan chunks were just collected
                committer.forget_writer(ticket)
    report["gc"] = {
        k: getattr(summary, k)
        for k in dir(summary)
        if not k.startswith("_") and isinstance(getattr(summary, k), int | float)
    }
    report["note"] = (
        "Icechunk never collects the 'overwritten/' backups of the repo object "
        "(earth-mover/icechunk#1852); they grow with every commit"
    )
    return report
