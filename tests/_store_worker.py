"""A region-writer process for the store tests: imports once, then writes regions on command.

Protocol: prints ``ready``; then per stdin line, a JSON job ``{"config", "regions", "template",
"sentinel_dir"}`` → writes (template first if asked), prints one JSON result line. Like a
Slurm job it is a fresh interpreter; pre-importing keeps the tests fast on small machines.
"""

from __future__ import annotations

import json
import sys
import traceback
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from zarr.core.sync import sync

from windrisk import store
from windrisk.grid import RegionGrid
from windrisk.variables import VARIABLES

SMALL_GRID = {
    "crs": "EPSG:4326",
    "transform": [0.001, 0.0, -120.0, 0.0, 0.001, 38.0],
    "shape": [128, 160],
    "chunks": [32, 32],
}
PROVENANCE = {"code_version": "test", "config_hash": "0" * 64, "inputs": {"demo": {"path": "none"}}}


def small_config(store_section: dict[str, Any]) -> dict[str, Any]:
    """A store-only config on the 4 x 5-region test grid."""
    section = {"branch": "main", "reconcile_sentinels": True,
               "commit": {"max_attempts": 12, "backoff_s": 0.2, "max_backoff_s": 5.0, "lock_timeout_s": 120.0}}
    section.update(store_section)
    return {"run_name": "test", "grid": dict(SMALL_GRID), "store": section}


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


def region_chunk_ids(config: dict[str, Any], grid: RegionGrid, rid: str) -> dict[str, str]:
    """Variable → id of the chunk object holding region ``rid`` at the branch tip (stored ones only)."""
    session = store.open_repo(config).readonly_session(branch=store.branch_of(config))
    index = grid.chunk_index(rid)
    return {name: cid for name in VARIABLES
            for at, cid in sync(store._native_chunk_refs(session, name)) if at == index}


def delete_chunk(config: dict[str, Any], chunk_id: str) -> None:
    """Delete one chunk object behind Icechunk's back, as a racing ``gc`` would."""
    url = store.store_url(config)
    if not url.startswith("s3://"):
        (Path(url) / "chunks" / chunk_id).unlink()
        return
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=config["store"]["s3"]["endpoint_url"], region_name="us-east-1")
    client.delete_object(Bucket=bucket, Key=f"{prefix.strip('/')}/chunks/{chunk_id}")


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    config = job["config"]
    grid = RegionGrid.from_config(config["grid"])
    result: dict[str, Any] = {"snapshots": {}, "template": None}
    if job.get("template"):
        result["template"] = store.ensure_template(config, grid)["template_snapshot_id"]
    for rid in job["regions"]:
        payload = store.write_region(config, grid, rid, expected_arrays(grid, rid), PROVENANCE)
        if job.get("sentinel_dir"):
            store.write_sentinel(Path(job["sentinel_dir"]) / f"{rid}.json", payload)
        result["snapshots"][rid] = payload["snapshot_id"]
    return result


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
