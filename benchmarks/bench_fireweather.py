"""Fire-weather wind-direction distribution: the one-pass Dask path against the blocked path.

A synthetic CONUS404-like hourly Zarr (``windrisk.conus404``: T2, TD2, U10, V10 float32, winds
grid-relative with SINALPHA/COSALPHA, Lambert conformal ``crs``, CONUS404's chunks of 144 hours ×
175 × 175 px, zstd; fields from ``windrisk.demo.hourly_fields`` with an all-NaN western strip),
default 1,440 hours × 175 × 175 px. In the same run, each in its own processes:

* **blocked**: ``fireweather.derive_distribution``, the path the rule ran before, with blocks of
  12 × 12 px: what its 1 GiB default gives at ~70,000 hours (8 years, a fifth of CONUS404), so
  each stored chunk is read 15 × 15 = 225 times (at CONUS404's 377,000 hours the blocks are 5 px:
  1,225 times). The block geometry, not the archive length, sets the re-reading; an 8-year
  archive would take the blocked path many hours here, so the archive is shortened and the
  geometry kept.
* **dask**: the rule's path: ``fireweather_dask.distribution_on_client`` on the ``LocalCluster``
  of ``dask.cluster: local`` with ``--workers`` single-threaded workers (4 GiB, task_memory 1 GiB).

Printed: wall and CPU time (all processes), bytes read ÷ bytes stored (every file read of the
store, counted in every process by ``windrisk.readcount``), peak RSS per process, whether the two
GeoTIFFs are identical, and a projection to the full archive on N workers with its assumptions.

    .venv/bin/python benchmarks/bench_fireweather.py [--hours N] [--size ROWS COLS] [--workers N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HOURS, QUICK_HOURS = 1_440, 432
BLOCK_SIDE = 12  # px: the blocks of the 1 GiB default at ~70,000 hours (5 px at CONUS404's 377,000)
SIZE = (175, 175)
WINDOW_ORIGIN = (520, 150)  # (row, col) of the window in the CONUS404 grid: the western US
TASK_MEMORY = 1 << 30


def write_store(path: Path, hours: int, size: tuple[int, int], seed: int = 0) -> None:
    """The synthetic store (see the module docstring), written one time chunk at a time."""
    from windrisk import conus404
    from windrisk.demo import hourly_fields

    rows = slice(WINDOW_ORIGIN[0], WINDOW_ORIGIN[0] + size[0])
    cols = slice(WINDOW_ORIGIN[1], WINDOW_ORIGIN[1] + size[1])
    x, y = conus404.pixel_centres(rows, cols)
    lon, lat = conus404.lon_lat(x, y)
    sin_a, cos_a = conus404.rotation(lon)
    ocean = np.zeros(lon.shape, bool)
    ocean[:, : size[1] // 12] = True

    def fields(h0: int, h1: int) -> dict[str, np.ndarray]:
        f = hourly_fields(np.random.default_rng([seed, h0]), lon, lat, h1 - h0, ocean)
        u, v = f["U10"], f["V10"]  # earth-relative → grid-relative (inverse of earth_relative)
        f["U10"], f["V10"] = u * cos_a + v * sin_a, v * cos_a - u * sin_a
        return f

    conus404.write_hourly_store(path, x, y, hours, fields)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_blocked(store: str, out: str) -> dict[str, Any]:
    import xarray as xr

    from windrisk import readcount
    from windrisk.fireweather import BYTES_PER_PIXEL_HOUR, derive_distribution

    hours = xr.open_zarr(store, consolidated=False).sizes["time"]
    readcount.install()
    t0, c0 = time.perf_counter(), time.process_time()
    derive_distribution(store, out, memory_bytes=BLOCK_SIDE**2 * hours * BYTES_PER_PIXEL_HOUR)
    return {
        "seconds": time.perf_counter() - t0,
        "cpu_s": time.process_time() - c0,
        "reads": readcount.snapshot(),
        "rss_gib": {"process": peak_rss_gib()},
    }


def run_dask(store: str, out: str, workers: int) -> dict[str, Any]:
    """The rule's path: the LocalCluster of ``dask.cluster: local`` (windrisk.cluster), 1 thread each."""
    from windrisk import readcount
    from windrisk.cluster import dask_client
    from windrisk.config import DEFAULTS
    from windrisk.fireweather import north_up, write_distribution
    from windrisk.fireweather_dask import distribution_on_client
    from windrisk.settings import DaskSettings, from_mapping

    settings = from_mapping(DaskSettings, {**DEFAULTS["dask"], "workers": workers, "task_memory": "1GiB"})
    with dask_client(settings) as client:
        client.register_plugin(readcount.worker_plugin())
        client.run(lambda: __import__("windrisk.fireweather_dask"))  # imports not timed, as for blocked
        readcount.install()
        cpu0 = sum(client.run(time.process_time).values())
        t0, c0 = time.perf_counter(), time.process_time()
        dist, crs_wkt, transform = distribution_on_client(client, store, task_memory=TASK_MEMORY, progress_every_s=60)
        seconds = time.perf_counter() - t0
        cpu = sum(client.run(time.process_time).values()) - cpu0 + time.process_time() - c0
        rss = {
            f"worker {i}": v / 2**20
            for i, v in enumerate(client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).values())
        }
        reads = readcount.cluster_snapshot(client)
    dist, transform = north_up(dist, transform)
    write_distribution(out, dist, crs_wkt, transform, "m/s")
    return {"seconds": seconds, "cpu_s": cpu, "reads": reads, "rss_gib": {"client + scheduler": peak_rss_gib(), **rss}}


def child(which: str, store: str, out: str, workers: int) -> None:
    result = run_blocked(store, out) if which == "blocked" else run_dask(store, out, workers)
    print(json.dumps(result))


def measure(which: str, store: Path, out: Path, workers: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--store",
        str(store),
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{which} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def read_ratio(reads: dict[str, list[int]], store: Path) -> tuple[float, int, int]:
    """(bytes read / bytes stored, chunks read more than once, chunk files never read)."""
    from windrisk.readcount import stored_bytes

    chunk_files = {str(p) for p in store.rglob("c/*/*/*") if p.is_file()}
    read_once = sum(1 for p, (n, _) in reads.items() if p in chunk_files and n > 1)
    never = len(chunk_files - set(reads))
    return sum(b for _, b in reads.values()) / stored_bytes(store), read_once, never


def projection(bench_pxh: float, dask_cpu_s: float, workers: int) -> list[str]:
    """The full archive on N workers, from this run's CPU seconds per pixel-hour (stated assumptions)."""
    from windrisk import conus404
    from windrisk.fireweather_dask import (
        LEAF_BYTES_PER_PX_HOUR,
        merge_bytes,
        tile_pieces,
        topk_size,
    )

    pxh = conus404.HOURS * conus404.SHAPE[0] * conus404.SHAPE[1]
    k = topk_size(conus404.HOURS)
    pieces = tile_pieces(conus404.CHUNKS[1:], k, TASK_MEMORY)
    tile_px = -(-conus404.CHUNKS[1] // pieces[0]) * -(-conus404.CHUNKS[2] // pieces[1])
    n_time = -(-conus404.HOURS // conus404.CHUNKS[0])
    n_space = -(-conus404.SHAPE[0] // conus404.CHUNKS[1]) * -(-conus404.SHAPE[1] // conus404.CHUNKS[2])
    leaves = n_time * n_space * pieces[0] * pieces[1]
    tasks = n_time * n_space + 2 * leaves + leaves // 3  # read+FFWI, split, top-k, merges
    cpu_h = pxh * dask_cpu_s / bench_pxh / 3600
    raw_tb = pxh * 16 / 1e12  # 4 float32 variables, before compression
    lines = [
        (
            f"projection to CONUS404: {conus404.HOURS:,} h x {conus404.SHAPE[0]:,} x {conus404.SHAPE[1]:,} px x 4 "
            f"variables ({raw_tb:.1f} TB as float32), chunks 144 x 175 x 175, task_memory 1 GiB"
        ),
        (
            f"  k = {k:,}; each chunk cut into {pieces[0] * pieces[1]} tiles of <= {tile_px:,} px; merge peak "
            f"{merge_bytes(k, tile_px) / 2**30:.2f} GiB, leaf ~{LEAF_BYTES_PER_PX_HOUR * 144 * 175 * 175 / 2**20:.0f} MiB: "
            "memory_per_worker 4 GiB per thread is enough"
        ),
        f"  ~{tasks / 1e6:.1f} M tasks (~{tasks * 0.5e-3 / 60:.0f} min of scheduler time at 0.5 ms each)",
        (
            f"  CPU: ~{cpu_h:,.0f} core-hours at this run's {dask_cpu_s / bench_pxh * 1e9:.0f} ns per pixel-hour "
            f"({workers} workers on this machine)"
        ),
    ]
    for n in (16, 64, 256):
        lines.append(
            f"  {n:>4} single-thread workers: ~{cpu_h / n:,.1f} h, reading "
            f"{raw_tb * 1e6 / (cpu_h * 3600):,.1f} MB/s (uncompressed) per worker"
        )
    lines.append(
        "  assumes: compute-bound (the store serves each worker that rate), linear scaling, "
        "CPU per pixel-hour as here (merges of k = 3,771 instead of this run's k cost more per "
        "hour kept but touch only ~1 % of the hours); the blocked path would read every chunk "
        "(175 / 5)^2 = 1,225 times (5 px blocks at 1 GiB)"
    )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=None)
    parser.add_argument("--size", nargs=2, type=int, metavar=("ROWS", "COLS"), default=SIZE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_HOURS} hours")
    parser.add_argument("--keep", help="write the store here and keep it (reused when present)")
    parser.add_argument("--child", choices=["blocked", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.store, args.out, args.workers)
        return 0
    hours = args.hours or (QUICK_HOURS if args.quick else HOURS)
    size = tuple(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(args.keep) if args.keep else Path(tmp) / "hourly.zarr"
        t0 = time.perf_counter()
        if not store.exists():
            write_store(store, hours, size)
        from windrisk.readcount import stored_bytes

        print(
            f"store: {hours:,} h × {size[0]} × {size[1]} px, chunks 144 × 175 × 175, "
            f"{stored_bytes(store) / 2**30:.2f} GiB stored (written in {time.perf_counter() - t0:.0f} s)"
        )
        res = {w: measure(w, store, Path(tmp) / f"{w}.tif", args.workers) for w in ("blocked", "dask")}
        import rasterio

        with rasterio.open(Path(tmp) / "blocked.tif") as a, rasterio.open(Path(tmp) / "dask.tif") as b:
            same = np.array_equal(a.read(), b.read(), equal_nan=True) and a.transform == b.transform
    for name, r in res.items():
        ratio, again, never = read_ratio(r["reads"], store)
        rss = ", ".join(f"{k} {v:.2f}" for k, v in r["rss_gib"].items())
        print(
            f"{name:>8}: {r['seconds']:8.1f} s wall  {r['cpu_s']:8.1f} s CPU  read/stored {ratio:6.2f}  "
            f"chunks read twice or more: {again}, never: {never}  peak RSS GiB: {rss}"
        )
        r["ratio"] = ratio
    speed = res["blocked"]["seconds"] / res["dask"]["seconds"]
    cpu = res["blocked"]["cpu_s"] / res["dask"]["cpu_s"]
    print(
        f"dask / blocked: {speed:.1f}x faster wall ({args.workers} workers), {cpu:.1f}x less CPU; "
        f"results identical: {same}"
    )
    for line in projection(hours * size[0] * size[1], res["dask"]["cpu_s"], args.workers):
        print(line)
    ok = same and res["dask"]["ratio"] <= 1.05 and speed >= 10
    print("targets (read/stored <= 1.05, >= 10x faster, identical):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
