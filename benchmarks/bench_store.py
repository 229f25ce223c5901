"""Commit throughput of many region writers on one Icechunk store, and the metadata they leave.

Lands ``--regions`` tiny regions (8 x 8 px) with 1 (the baseline, same run), 16 and 64 writer
processes on local disk (flock-serialised commits) and on an S3-compatible moto server
(optimistic commits), then prints time, commits/s, rebases, the ratio against the baseline and
the size of the repository's metadata (snapshots, manifests, transactions, refs, repo,
overwritten/). Writers are separate OS processes started before the clock (imports excluded).

    .venv/bin/python benchmarks/bench_store.py [--regions 400] [--writers 16 64] [--storage local s3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _store_worker import small_config
from s3server import S3_ENV, moto_server, new_bucket, s3_env, s3_store_section
from test_store_concurrency import Worker, deal, start_workers

from windrisk import store
from windrisk.grid import RegionGrid

REGION_PX = 8
META_PARTS = ("snapshots", "manifests", "transactions", "refs", "repo", "overwritten", "chunks")


def bench_config(store_section: dict[str, Any], n_regions: int) -> dict[str, Any]:
    """A grid of about ``n_regions`` regions of 8 x 8 px (as square as possible)."""
    cols = max(1, round(n_regions**0.5))
    rows = -(-n_regions // cols)
    cfg = small_config(store_section)
    cfg["grid"].update(shape=[rows * REGION_PX, cols * REGION_PX], chunks=[REGION_PX, REGION_PX])
    cfg["store"]["commit"].update(max_attempts=30, max_backoff_s=10.0)  # 64 writers on one branch
    return cfg


def sizes_local(url: str) -> Counter[str]:
    out: Counter[str] = Counter()
    for path in Path(url).rglob("*"):
        if path.is_file():
            out[path.relative_to(url).parts[0]] += path.stat().st_size
    return out


def sizes_s3(endpoint: str, url: str) -> Counter[str]:
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"])
    out: Counter[str] = Counter()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix) + 1:].split("/")[0]] += obj["Size"]
    return out


def land(workers: list[Worker], cfg: dict[str, Any], n_regions: int) -> dict[str, Any]:
    """Template, then all regions dealt to the workers at once; wall time from 'go' to the last."""
    grid = RegionGrid.from_config(cfg["grid"])
    store.ensure_template(cfg, grid)
    rids = list(grid.all_region_ids)[:n_regions]
    started = time.perf_counter()
    for w, share in zip(workers, deal(rids, len(workers)), strict=True):
        w.send({"config": cfg, "regions": share})
    results = [w.result() for w in workers]
    total_s = time.perf_counter() - started
    landed = sum(len(r["snapshots"]) for r in results)
    ancestry = list(store.open_repo(cfg).ancestry(branch="main"))
    rebases = sum(i.metadata.get("__icechunk", {}).get("rebase_attempts", 0) for i in ancestry)
    assert landed == len(rids) and int(store.branch_view(cfg, grid).written.sum()) == len(rids)
    return {"total_s": total_s, "commits_per_s": len(rids) / total_s, "rebases": rebases, "commits": len(ancestry)}


def run_storage(kind: str, pool: list[Worker], args: argparse.Namespace, tmp: Path, endpoint: str | None) -> list[dict]:
    rows = []
    n_regions = args.regions if endpoint is None else (args.s3_regions or args.regions)
    for n in [1, *args.writers]:
        name = f"{kind}-{n}"
        section = {"url": str(tmp / f"{name}.icechunk")} if endpoint is None else s3_store_section(
            endpoint, new_bucket(endpoint), prefix=name)
        cfg = bench_config(section, n_regions)
        row = {"storage": kind, "writers": n, "regions": n_regions, **land(pool[:n], cfg, n_regions)}
        url = cfg["store"]["url"]
        row["sizes"] = sizes_local(url) if endpoint is None else sizes_s3(endpoint, url)
        rows.append(row)
        print_row(row, rows[0])
    return rows


def print_row(row: dict[str, Any], base: dict[str, Any]) -> None:
    sizes = row["sizes"]
    meta = sum(v for k, v in sizes.items() if k != "chunks")
    print(
        f"{row['storage']:<6} regions={row['regions']} writers={row['writers']:>3}  total {row['total_s']:7.1f} s  "
        f"{row['commits_per_s']:6.2f} commits/s  speed-up x{base['total_s'] / row['total_s']:5.2f} vs 1 writer  "
        f"rebases {row['rebases']:>5}  commits {row['commits']}",
        flush=True,
    )
    parts = "  ".join(f"{k} {sizes.get(k, 0) / 1e6:.2f} MB" for k in META_PARTS)
    print(f"        metadata {meta / 1e6:.2f} MB ({meta / max(base_meta(base), 1):.2f}x baseline): {parts}", flush=True)


def base_meta(base: dict[str, Any]) -> int:
    return sum(v for k, v in base["sizes"].items() if k != "chunks")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regions", type=int, default=400)
    parser.add_argument("--s3-regions", type=int, help="regions on S3 (default --regions; moto is slow)")
    parser.add_argument("--writers", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--storage", nargs="+", choices=["local", "s3"], default=["local", "s3"])
    parser.add_argument("--quick", action="store_true", help="100 regions, 16 writers, 40 on S3")
    args = parser.parse_args(argv)
    if args.quick:
        args.regions, args.s3_regions, args.writers = 100, 40, [16]
    started = time.perf_counter()
    with s3_env():
        pool = start_workers(max(args.writers))
    print(f"started {len(pool)} writer processes in {time.perf_counter() - started:.1f} s (not timed below)", flush=True)
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
