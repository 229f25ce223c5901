"""Aggregation: region building files → one CONUS GeoParquet, ours vs DuckDB's plain COPY.

Synthetic region files (Hilbert-sorted building files as `buildings_region` writes them) are
concatenated by `windrisk.aggregate.aggregate` and by DuckDB's
`COPY (SELECT * FROM read_parquet([...])) TO ... (FORMAT parquet)`; each runs in its own
subprocess under /usr/bin/time for wall, CPU and peak RSS. Target: ours not slower.

    python benchmarks/bench_aggregate.py [--regions 40] [--per-region 50000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from windrisk.buildings import VARIABLES, building_table, write_building_file


def measure_cmd(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd`` under /usr/bin/time; wall s, CPU s and peak RSS MB."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as log:
        subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", log.name, *cmd], check=True)
        wall, user, sys_s, rss_kb = map(float, Path(log.name).read_text().split()[-4:])
    return {"wall_s": wall, "cpu_s": user + sys_s, "rss_mb": rss_kb / 1024}


def measure(code: str, *args: str) -> dict[str, float]:
    """Run ``python -c code args`` in a subprocess; see ``measure_cmd``."""
    return measure_cmd([sys.executable, "-c", code, *args])


def synthetic_points(n: int, box: tuple[float, float, float, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Building-like points: gaussian towns (σ 0.5–3 km) inside ``box``."""
    rng = np.random.default_rng(seed)
    left, bottom, right, top = box
    towns = max(1, n // 3000)
    cx, cy = rng.uniform(left, right, towns), rng.uniform(bottom, top, towns)
    sigma = rng.uniform(0.005, 0.03, towns)
    t = rng.integers(0, towns, n)
    x = np.clip(cx[t] + rng.normal(0, 1, n) * sigma[t], left, np.nextafter(right, left))
    y = np.clip(cy[t] + rng.normal(0, 1, n) * sigma[t], bottom, np.nextafter(top, bottom))
    return x, y


def synthetic_values(n: int, seed: int) -> dict[str, np.ndarray]:
    """Log-normal risk values with a few NaN pixels."""
    rng = np.random.default_rng(seed)
    values = {name: rng.lognormal(-4, 2, n).astype(np.float32) for name in VARIABLES}
    values["rps_2011"][rng.random(n) < 0.01] = np.nan
    return values


def write_regions(folder: Path, regions: int, per_region: int) -> list[Path]:
    """Region files on a grid of boxes over CONUS, ``per_region`` buildings each."""
    cols = int(np.ceil(np.sqrt(regions * 2)))
    rows = int(np.ceil(regions / cols))
    xs, ys = np.linspace(-124, -67, cols + 1), np.linspace(25, 49, rows + 1)
    paths = []
    for k in range(regions):
        r, c = divmod(k, cols)
        rid = f"y{r}_x{c}"
        x, y = synthetic_points(per_region, (xs[c], ys[r], xs[c + 1], ys[r + 1]), seed=k)
        ids = np.array([f"{rid}_{i}" for i in range(per_region)], dtype=object)
        path = folder / f"{rid}.parquet"
        write_building_file(building_table(rid, ids, x, y, synthetic_values(per_region, k)), path, 100_000)
        paths.append(path)
    return paths


OURS = "import sys, json; from windrisk.aggregate import aggregate; aggregate(json.loads(sys.argv[1]), sys.argv[2])"
DUCKDB = (
    "import sys, json, duckdb; files = json.loads(sys.argv[1]); "
    "duckdb.sql(f\"COPY (SELECT * FROM read_parquet({files!r})) TO '{sys.argv[2]}' (FORMAT parquet)\")"
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=40)
    parser.add_argument("--per-region", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="10 regions x 20k buildings")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each method (fastest kept)")
    args = parser.parse_args(argv)
    regions, per_region = (10, 20_000) if args.quick else (args.regions, args.per_region)
    with tempfile.TemporaryDirectory(prefix="bench_aggregate_") as tmp:
        folder = Path(tmp)
        files = json.dumps([str(p) for p in write_regions(folder, regions, per_region)])
        n = regions * per_region
        os.sync()  # flush the fresh inputs first, or the first method timed pays their write-back
        # Alternate the methods and keep each one's fastest run: the machine is shared and noisy.
        runs: dict[str, list[dict[str, float]]] = {"windrisk.aggregate": [], "duckdb COPY": []}
        for _ in range(args.repeat):
            runs["windrisk.aggregate"].append(measure(OURS, files, str(folder / "ours.parquet")))
            runs["duckdb COPY"].append(measure(DUCKDB, files, str(folder / "duckdb.parquet")))
        results = {name: min(rs, key=lambda r: r["wall_s"]) for name, rs in runs.items()}
        for name, res in results.items():
            size = (folder / ("ours.parquet" if name.startswith("windrisk") else "duckdb.parquet")).stat().st_size
            print(
                f"{name:20s} {n:>10,d} rows  {res['wall_s']:6.2f} s wall  {res['cpu_s']:6.2f} CPU-s  "
                f"{n / res['wall_s'] / 1e6:5.2f} M rows/s  peak RSS {res['rss_mb']:6.0f} MB  {size / 1e6:7.1f} MB"
            )
        ours, base = results["windrisk.aggregate"], results["duckdb COPY"]
        print(
            f"ratio (duckdb / ours): wall {base['wall_s'] / ours['wall_s']:.2f}x, CPU {base['cpu_s'] / ours['cpu_s']:.2f}x, "
            f"RSS {base['rss_mb'] / ours['rss_mb']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
