"""PMTiles: features/s for N building points, ours (windrisk.tiles) vs plain tippecanoe.

The baseline is what a user would run: export the CONUS GeoParquet to CSV (lon, lat and the
same rounded attributes), then
`tippecanoe -zg --drop-densest-as-needed --extend-zooms-if-still-dropping -l buildings -o out.pmtiles`.
Each step runs in its own subprocess under /usr/bin/time (wall, CPU, peak RSS). Target: ≥5x.

    python benchmarks/bench_tiles.py [--n 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_aggregate import measure, measure_cmd, synthetic_points, synthetic_values

from windrisk.buildings import building_table, write_building_file

CONUS_BOX = (-124.0, 25.0, -67.0, 49.0)
OURS = (
    "import sys; from windrisk.settings import TilesSettings; from windrisk.tiles import build_pmtiles; "
    "build_pmtiles(sys.argv[1], sys.argv[2], TilesSettings(layer='buildings', min_zoom=0, max_zoom=14))"
)
EXPORT_CSV = """
import sys, pyarrow as pa, pyarrow.csv as csv, pyarrow.parquet as pq
from windrisk.tiles import ROUNDED, round_significant, xy_of
schema = pa.schema([("lon", pa.float64()), ("lat", pa.float64()), ("id", pa.string()),
                    *[(n, pa.float32()) for n in ROUNDED], ("score_2011", pa.uint8()), ("score_2047", pa.uint8())])
with csv.CSVWriter(sys.argv[2], schema) as w:
    for b in pq.ParquetFile(sys.argv[1]).iter_batches(columns=["id", *ROUNDED, "score_2011", "score_2047", "geometry"]):
        x, y = xy_of(b)
        cols = [pa.array(x), pa.array(y), b.column(0), *[round_significant(b.column(n)) for n in ROUNDED],
                b.column(5), b.column(6)]
        w.write_batch(pa.RecordBatch.from_arrays(cols, schema=schema))
"""


def write_conus(path: Path, n: int) -> None:
    """A synthetic CONUS building file of ``n`` Hilbert-sorted points."""
    x, y = synthetic_points(n, CONUS_BOX, seed=7)
    ids = np.char.add("b", np.arange(n).astype(str)).astype(object)
    write_building_file(building_table("y0_x0", ids, x, y, synthetic_values(n, 7)), path, 100_000)


def max_zoom_of(path: Path) -> int:
    from pmtiles.reader import MmapSource, Reader

    with path.open("rb") as f:
        return Reader(MmapSource(f)).header()["max_zoom"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k points")
    parser.add_argument("--same-zooms", action="store_true", help="also run tippecanoe with -Z0 -z14, our zoom range")
    args = parser.parse_args(argv)
    n = 100_000 if args.quick else args.n
    tippecanoe = str(Path(sys.executable).parent / "tippecanoe")
    with tempfile.TemporaryDirectory(prefix="bench_tiles_") as tmp:
        d = Path(tmp)
        write_conus(d / "conus.parquet", n)
        ours = measure(OURS, str(d / "conus.parquet"), str(d / "ours.pmtiles"))
        export = measure(EXPORT_CSV, str(d / "conus.parquet"), str(d / "in.csv"))
        tip = measure_cmd(
            [
                tippecanoe,
                "-q",
                "-f",
                "-zg",
                "--drop-densest-as-needed",
                "--extend-zooms-if-still-dropping",
                "-l",
                "buildings",
                "-o",
                str(d / "tippecanoe.pmtiles"),
                str(d / "in.csv"),
            ]
        )
        base = {k: export[k] + tip[k] for k in ("wall_s", "cpu_s")} | {"rss_mb": max(export["rss_mb"], tip["rss_mb"])}
        extra = []
        if args.same_zooms:
            z14 = measure_cmd(
                [
                    tippecanoe,
                    "-q",
                    "-f",
                    "-Z0",
                    "-z14",
                    "--drop-densest-as-needed",
                    "--extend-zooms-if-still-dropping",
                    "-l",
                    "buildings",
                    "-o",
                    str(d / "z14.pmtiles"),
                    str(d / "in.csv"),
                ]
            )
            extra = [("  tippecanoe -Z0 -z14 (same zooms as ours)", z14, d / "z14.pmtiles")]
        rows = [
            ("windrisk.tiles (freestiler, z0-14)", ours, d / "ours.pmtiles"),
            ("  baseline: CSV export", export, None),
            (
                f"  baseline: tippecanoe -zg (chose z{max_zoom_of(d / 'tippecanoe.pmtiles')})",
                tip,
                d / "tippecanoe.pmtiles",
            ),
            ("baseline total", base, None),
            *extra,
        ]
        for name, res, out in rows:
            size = f"{out.stat().st_size / 1e6:7.1f} MB" if out else ""
            print(
                f"{name:44s} {n:>9,d} pts  {res['wall_s']:7.1f} s wall  {res['cpu_s']:7.1f} CPU-s  "
                f"{n / res['wall_s']:9,.0f} features/s  peak RSS {res['rss_mb']:6.0f} MB  {size}"
            )
        print(
            f"speed-up (baseline / ours): wall {base['wall_s'] / ours['wall_s']:.1f}x, CPU {base['cpu_s'] / ours['cpu_s']:.1f}x"
        )
        for _, res, _ in extra:
            print(
                f"speed-up vs tippecanoe -Z0 -z14 (+ export): CPU {(res['cpu_s'] + export['cpu_s']) / ours['cpu_s']:.1f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
