"""Group-commit throughput of many region writers on one Icechunk store, and the metadata they leave.

Lands tiny regions (8 x 8 px) with one sequential writer (the baseline, same run) and with
``--writers`` concurrent writers (threads spread over 16 worker processes, each thread one
region job), on local disk and on an S3-compatible moto server, in two shapes:

* ``burst``: every writer starts at once and finishes together (the worst case);
* ``staggered``: start times spread uniformly over ``--spread`` seconds, like region jobs of a
  real fan-out finishing at different times.

Prints wall time, regions landed per second, p50 / p99 of a region's write-to-proof latency,
failures, commits made, and the repository metadata (snapshots, manifests, transactions, refs,
repo, overwritten/) against the baseline. Imports are excluded (workers start before the clock).

    .venv/bin/python benchmarks/bench_store.py [--writers 200] [--storage local s3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _store_worker import small_config
from s3server import moto_client, moto_server, new_bucket, s3_env, s3_store_section
from test_store_concurrency import Worker, deal, start_workers

from windrisk import store
from windrisk.config import DEFAULTS
from windrisk.settings import Settings

REGION_PX = 8
PROCESSES = 16
META_PARTS = ("snapshots", "manifests", "transactions", "refs", "repo", "overwritten", "chunks")


def bench_config(store_section: dict[str, Any], n_regions: int) -> Settings:
    """A grid of at least ``n_regions`` regions of 8 x 8 px (as square as possible)."""
    cols = max(1, round(n_regions**0.5))
    rows = -(-n_regions // cols)
    cfg = small_config(store_section, REGION_PX)
    cfg["grid"].update(shape=[rows * REGION_PX, cols * REGION_PX])
    # The shipped polling and lease settings (tests poll faster); patience bounds a failing run.
    cfg["store"]["commit"] = {**DEFAULTS["store"]["commit"], "patience_s": 1800.0}
    return Settings.of(cfg)


def sizes_local(url: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for path in Path(url).rglob("*"):
        if path.is_file():
            out[path.relative_to(url).parts[0]] += path.stat().st_size
    return out


def sizes_s3(endpoint: str, url: str) -> Counter[str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = moto_client(endpoint)
    out: Counter[str] = Counter()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix) + 1 :].split("/")[0]] += obj["Size"]
    return out


def land(workers: list[Worker], cfg: Settings, n_regions: int, spread_s: float) -> dict[str, Any]:
    """Template, then the regions dealt to the workers' threads; wall time from 'go' to the last."""
    grid = cfg.region_grid()
    store.ensure_template(cfg, grid)
    rids = list(grid.all_region_ids)[:n_regions]
    rng = random.Random(0)
    started = time.perf_counter()
    for w, share in zip(workers, deal(rids, len(workers)), strict=True):
        job: dict[str, Any] = {"config": cfg.as_config(), "regions": share}
        if len(workers) > 1:  # one thread per region: each is its own job
            job.update(threads=True, delays=[rng.uniform(0, spread_s) for _ in share])
        w.send(job)
    failed, seconds, snapshots = 0, [], set()
    for w in workers:
        out = json.loads(w.proc.stdout.readline())
        if "error" in out:
            failed += 1
            print(f"        a worker failed: {out['error']}", flush=True)
            continue
        seconds += list(out["seconds"].values())
        snapshots |= set(out["snapshots"].values())
    total_s = time.perf_counter() - started
    landed = int(store.branch_view(cfg, grid).written.sum())
    return {
        "total_s": total_s,
        "landed": landed,
        "failed": len(rids) - landed,
        "worker_errors": failed,
        "regions_per_s": landed / total_s,
        "p50_s": float(np.percentile(seconds, 50)) if seconds else 0.0,
        "p99_s": float(np.percentile(seconds, 99)) if seconds else 0.0,
        "commits": len(snapshots),
    }


def run_storage(kind: str, pool: list[Worker], args: argparse.Namespace, tmp: Path, endpoint: str | None) -> None:
    base: dict[str, Any] | None = None
    for shape, writers, spread in [
        ("baseline", 1, 0.0),
        ("burst", args.writers, 0.0),
        ("staggered", args.writers, args.spread),
    ]:
        name = f"{kind}-{shape}"
        section = (
            {"url": str(tmp / f"{name}.icechunk")}
            if endpoint is None
            else s3_store_section(endpoint, new_bucket(endpoint), prefix=name)
        )
        n_regions = args.baseline_regions if shape == "baseline" else writers
        cfg = bench_config(section, n_regions)
        procs = pool[:1] if shape == "baseline" else pool[: min(PROCESSES, writers)]
        row = {
            "storage": kind,
            "shape": shape,
            "writers": writers,
            "regions": n_regions,
            **land(procs, cfg, n_regions, spread),
        }
        url = cfg.store.url
        row["sizes"] = sizes_local(url) if endpoint is None else sizes_s3(endpoint, url)
        base = base or row
        print_row(row, base)


def print_row(row: dict[str, Any], base: dict[str, Any]) -> None:
    sizes = row["sizes"]
    meta = sum(v for k, v in sizes.items() if k != "chunks")
    base_meta = sum(v for k, v in base["sizes"].items() if k != "chunks") / base["regions"]
    print(
        f"{row['storage']:<6} {row['shape']:<9} writers={row['writers']:>3} regions={row['regions']:>3}  "
        f"total {row['total_s']:6.1f} s  {row['regions_per_s']:6.2f} regions/s "
        f"(x{row['regions_per_s'] / base['regions_per_s']:5.2f} vs 1 writer)  "
        f"latency p50 {row['p50_s']:5.1f} s p99 {row['p99_s']:5.1f} s  failed {row['failed']}  commits {row['commits']}",
        flush=True,
    )
    parts = "  ".join(f"{k} {sizes.get(k, 0) / 1e6:.2f} MB" for k in META_PARTS)
    print(
        f"        metadata {meta / 1e6:.2f} MB = {meta / row['regions'] / 1e3:.1f} kB/region "
        f"({meta / row['regions'] / max(base_meta, 1):.2f}x baseline per region): {parts}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--baseline-regions", type=int, default=40, help="regions the 1-writer baseline lands")
    parser.add_argument("--spread", type=float, default=120.0, help="staggered: start times over this many s")
    parser.add_argument("--storage", nargs="+", choices=["local", "s3"], default=["local", "s3"])
    parser.add_argument("--quick", action="store_true", help="48 writers, 20 baseline regions, 20 s spread")
    args = parser.parse_args(argv)
    if args.quick:
        args.writers, args.baseline_regions, args.spread = 48, 20, 20.0
    started = time.perf_counter()
    with s3_env():
        pool = start_workers(PROCESSES)
    print(
        f"started {len(pool)} writer processes in {time.perf_counter() - started:.1f} s (not timed below)", flush=True
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp, s3_env():
            if "local" in args.storage:
                run_storage("local", pool, args, Path(tmp), None)
            if "s3" in args.storage:
                with moto_server() as endpoint:
                    run_storage("s3", pool, args, Path(tmp), endpoint)
    finally:
        for w in pool:
            w.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
