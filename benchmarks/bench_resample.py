"""Exact nearest-neighbour resampling of a region window: interpolated lattice against PROJ per pixel.

The rasters a ``wind_region`` job resamples onto one buffered window of the published grid
(``config/conus.yaml``, EPSG:4326, default region ``y8_x17`` + 490 px, 6,980 x 5,480 px): BP for
two climate runs at 270 m and CRPS and RPS at 30 m, all EPSG:5070 (``conftest.native_under``: a
distinct bit pattern per native pixel, so any different pick shows). Each is resampled two ways:

- baseline, ``rasters.sample_nearest_exact``: every grid pixel centre through PROJ (the region
  job's path before the lattice, and GDAL's warp with ``tolerance=0``);
- ours, ``rasters._sample_nearest``: PROJ on a 16 px lattice once per window and CRS (the second
  raster of a CRS reuses it), bilinear interpolation with a proven error bound, PROJ again only
  for the pixels within that bound of a native pixel edge.

The two must be equal bit for bit; target: ours >= 5x faster over the job's four rasters. Numba
compiles (or loads its cache) in an untimed warm-up on a small window.

    .venv/bin/python benchmarks/bench_resample.py [--region ID] [--quick] [--json]

``--quick``: a 1,200 x 1,000 px window at the region's corner.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from windrisk import rasters
from windrisk.grid import RegionGrid, Window

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import native_under

NATIVE_CRS = "EPSG:5070"
# The job's rasters in the order it reads them: (name, native resolution in metres).
JOB_RASTERS = (("bp_2011", 270.0), ("bp_2047", 270.0), ("crps", 30.0), ("rps", 30.0))
QUICK_SHAPE = (1200, 1000)
TARGET_SPEEDUP = 5.0


def published_grid() -> tuple[RegionGrid, int]:
    raw = yaml.safe_load((ROOT / "config" / "conus.yaml").read_text())
    return RegionGrid.from_config(raw["grid"]), int(raw["grid"]["buffer_px"])


def timed(fn: Any, *args: Any) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def run(args: argparse.Namespace) -> dict[str, Any]:
    grid, buffer_px = published_grid()
    window = grid.buffered_window(args.region, buffer_px)
    if args.quick:
        window = Window(
            window.row_start, window.row_start + QUICK_SHAPE[0], window.col_start, window.col_start + QUICK_SHAPE[1]
        )
    small = Window(window.row_start, window.row_start + 64, window.col_start, window.col_start + 64)
    warm = native_under(grid, small, NATIVE_CRS, 270.0)
    start = time.perf_counter()
    rasters._sample_nearest(*warm, grid, small, NATIVE_CRS)
    warmup_s = time.perf_counter() - start
    rasters._lattice.cache_clear()  # the job starts with no lattice
    rows = []
    for name, res in JOB_RASTERS:
        native, transform, offset = native_under(grid, window, NATIVE_CRS, res)
        exact, exact_s = timed(rasters.sample_nearest_exact, native, transform, offset, grid, window, NATIVE_CRS)
        fast, fast_s = timed(rasters._sample_nearest, native, transform, offset, grid, window, NATIVE_CRS)
        rows.append(
            {
                "raster": name,
                "native_m": res,
                "exact_s": exact_s,
                "ours_s": fast_s,
                "identical": bool(np.array_equal(exact, fast, equal_nan=True)),
            }
        )
        del exact, fast, native
    exact_total, ours_total = sum(r["exact_s"] for r in rows), sum(r["ours_s"] for r in rows)
    pixels = window.shape[0] * window.shape[1]
    speedup = exact_total / ours_total
    return {
        "region": args.region,
        "window_shape": list(window.shape),
        "numba_warmup_s": warmup_s,
        "rasters": rows,
        "exact_total_s": exact_total,
        "ours_total_s": ours_total,
        "exact_mpx_s": len(rows) * pixels / exact_total / 1e6,
        "ours_mpx_s": len(rows) * pixels / ours_total / 1e6,
        "speedup": speedup,
        "all_identical": all(r["identical"] for r in rows),
        "target": {"name": f"ours >= {TARGET_SPEEDUP:.0f}x exact", "pass": speedup >= TARGET_SPEEDUP},
    }


def print_report(result: dict[str, Any]) -> None:
    rows, cols = result["window_shape"]
    print(f"region {result['region']}: window {rows:,} x {cols:,} px; numba warm-up {result['numba_warmup_s']:.1f} s")
    print(f"{'raster':<9} {'native':>7} {'exact (PROJ) s':>15} {'ours s':>8} {'ratio':>7}  identical")
    for r in result["rasters"]:
        print(
            f"{r['raster']:<9} {r['native_m']:>6.0f}m {r['exact_s']:>15.2f} {r['ours_s']:>8.2f} "
            f"{r['exact_s'] / r['ours_s']:>6.1f}x  {r['identical']}"
        )
    print(
        f"{'job':<9} {'':>7} {result['exact_total_s']:>15.2f} {result['ours_total_s']:>8.2f} {result['speedup']:>6.1f}x  "
        f"{result['all_identical']}   ({result['exact_mpx_s']:.1f} vs {result['ours_mpx_s']:.1f} Mpx/s)"
    )
    target = result["target"]
    print(f"target {target['name']}: {'met' if target['pass'] else 'MISSED'}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="y8_x17", help="region of the published grid (default y8_x17)")
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_SHAPE[0]} x {QUICK_SHAPE[1]} px window")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = parser.parse_args(argv)
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0 if result["all_identical"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
