"""A region-writer process for the store tests: imports once, then writes regions on command.

Protocol: prints ``ready``; then per stdin line, a JSON job ``{"config", "regions", "template",
"sentinel_dir", "threads", "delays", "lead_and_die"}`` → writes (template first if asked; with
``threads`` every region at once, each in its own thread, as that many separate jobs would, each
after its ``delays`` seconds), prints one JSON result line with each region's write time. ``lead_and_die`` instead takes the commit lease, prints ``holding``, waits
for a line, commits what is waiting and SIGKILLs itself before writing any receipt: a committer
killed at the worst moment. Like a
Slurm job it is a fresh interpreter; pre-importing keeps the tests fast on small machines.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import icechunk as ic
import numpy as np
from zarr.core.sync import sync

from windrisk import store
from windrisk.grid import RegionGrid
from windrisk.settings import Settings
from windrisk.variables import VARIABLES

SMALL_GRID = {
    "crs": "EPSG:4326",
    "transform": [0.001, 0.0, -120.0, 0.0, 0.001, 38.0],
    "shape": [128, 160],
    "chunks": [32, 32],
    "buffer_px": 0,
    "data_regions": "all",
}
# The store tests read no input: these only complete the config.
PLACEHOLDER_INPUTS = {
    "burn_probability": {"2011": "unused/bp_2011.tif", "2047": "unused/bp_2047.tif"},
    "crps": "unused/crps.tif",
    "rps": "unused/rps.tif",
    "wind": {"distribution": "unused/distribution.tif"},
    "buildings": "unused/buildings.parquet",
}
PROVENANCE = {"code_version": "test", "config_hash": "0" * 64, "inputs": {"demo": {"path": "none"}}}


def small_config(store_section: dict[str, Any], chunks: int = 32) -> dict[str, Any]:
    """A config for store tests on the test grid: 4 x 5 regions, 16 x 20 with ``chunks=8``."""
    section = {
        "branch": "main",
        "reconcile_sentinels": True,
        "commit": {"patience_s": 600.0, "poll_max_s": 2.0, "lease_ttl_s": 30.0},
        "gc": {"safety_window_s": 0},
    }
    section.update(store_section)
    return {
        "run_name": "test",
        "results": "results",
        "regions": "all",
        "grid": {**SMALL_GRID, "chunks": [chunks, chunks]},
        "inputs": PLACEHOLDER_INPUTS,
        "store": section,
    }


def small_settings(store_section: dict[str, Any], chunks: int = 32) -> Settings:
    return Settings.of(small_config(store_section, chunks))


def expected_arrays(grid: RegionGrid, rid: str) -> dict[str, np.ndarray]:
    """Deterministic region data with some NaNs; all-NaN for region y0_x0."""
    rng = np.random.default_rng(zlib.crc32(rid.encode()))
    shape = grid.region_window(rid).shape
    out = {}
    for name in VARIABLES:
        arr = rng.random(shape, dtype=np.float32)
        arr[rng.random(shape) < 0.1] = np.nan
        out[name] = np.full(shape, np.nan, np.float32) if rid == "y0_x0" else arr
    return out


def region_chunk_ids(settings: Settings, grid: RegionGrid, rid: str) -> dict[str, str]:
    """Variable → id of the chunk object holding region ``rid`` at the branch tip (stored ones only)."""
    session = store.open_repo(settings).readonly_session(branch=settings.store.branch)
    index = grid.chunk_index(rid)
    return {name: cid for name in VARIABLES for at, cid in sync(store._native_chunk_refs(session, name)) if at == index}


def delete_chunk(settings: Settings, chunk_id: str) -> None:
    """Delete one chunk object behind Icechunk's back, as a racing ``gc`` would."""
    url = settings.store.url
    if not url.startswith("s3://"):
        (Path(url) / "chunks" / chunk_id).unlink()
        return
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=settings.store.s3.endpoint_url, region_name="us-east-1")
    client.delete_object(Bucket=bucket, Key=f"{prefix.strip('/')}/chunks/{chunk_id}")


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    config = Settings.of(job["config"])
    grid = config.region_grid()
    result: dict[str, Any] = {"snapshots": {}, "template": None}
    if job.get("template"):
        result["template"] = store.ensure_template(config, grid)["template_snapshot_id"]
    if job.get("lead_and_die"):
        lead_and_die(config)

    delays = dict(zip(job["regions"], job.get("delays") or [0.0] * len(job["regions"]), strict=True))
    seconds: dict[str, float] = {}

    def write(rid: str) -> str:
        time.sleep(delays[rid])
        started = time.perf_counter()
        payload = store.write_region(config, grid, rid, expected_arrays(grid, rid), PROVENANCE)
        seconds[rid] = time.perf_counter() - started
        if job.get("sentinel_dir"):
            store.write_sentinel(Path(job["sentinel_dir"]) / f"{rid}.json", payload)
        return str(payload["snapshot_id"])

    if job.get("threads"):
        with ThreadPoolExecutor(max_workers=max(1, len(job["regions"]))) as pool:
            result["snapshots"] = dict(zip(job["regions"], pool.map(write, job["regions"]), strict=True))
    else:
        result["snapshots"] = {rid: write(rid) for rid in job["regions"]}
    result["seconds"] = seconds
    return result


def lead_and_die(config: Settings) -> None:
    real = ic.Session.commit

    def commit_then_die(self: ic.Session, *args: Any, **kwargs: Any) -> str:
        real(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")

    ic.Session.commit = commit_then_die
    committer = store.group_committer(config)
    assert committer.lease.try_acquire(), "the lease is taken"
    print("holding", flush=True)
    sys.stdin.readline()
    committer.commit_pending()
    raise AssertionError("nothing was waiting to be committed")


def main() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        try:
            out = run_job(json.loads(line))
        except Exception as exc:  # noqa: BLE001 - report, don't die: the test asserts on it
            out = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
