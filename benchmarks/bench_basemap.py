"""The offline basemap (windrisk.basemap): wall, CPU, peak RSS and output sizes for the demo window
and the whole conterminous US. Baseline (same run): the demo window, the smallest real build.
Target: the CONUS basemap ≤ 10 MB of tiles and ≤ 60 s wall, so every run can make its own.

    python benchmarks/bench_basemap.py [--quick]   # --quick: the demo window only
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from bench_aggregate import measure

from windrisk.basemap import run_bounds
from windrisk.settings import load_settings

BUILD = (
    "import sys, json; from windrisk.basemap import build_basemap; "
    "b = json.loads(sys.argv[2]); d = sys.argv[1]; "
    "build_basemap(d + '/basemap.pmtiles', d + '/gazetteer.json', d + '/fonts', b and tuple(b))"
)
REPO = Path(__file__).resolve().parents[1]


def sizes_mb(folder: Path) -> dict[str, float]:
    fonts = sum(p.stat().st_size for p in (folder / "fonts").rglob("*.pbf"))
    return {
        "pmtiles_mb": (folder / "basemap.pmtiles").stat().st_size / 1e6,
        "gazetteer_mb": (folder / "gazetteer.json").stat().st_size / 1e6,
        "fonts_mb": fonts / 1e6,
    }


def run(label: str, bounds: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-basemap-") as tmp:
        result = measure(BUILD, tmp, bounds) | sizes_mb(Path(tmp))
    print(label, "  ".join(f"{k} {v:.2f}" for k, v in result.items()), flush=True)
    return result


def main(argv: list[str]) -> int:
    demo_bounds = run_bounds(load_settings(REPO / "config" / "config.yaml").region_grid())
    demo = run("demo window:", json.dumps(demo_bounds))
    if "--quick" in argv:
        return 0
    conus = run("CONUS:      ", "null")
    print(
        f"CONUS / demo: {conus['wall_s'] / demo['wall_s']:.1f}x wall, {conus['pmtiles_mb'] / demo['pmtiles_mb']:.0f}x tiles"
    )
    ok = conus["pmtiles_mb"] <= 10 and conus["wall_s"] <= 60
    print("target (CONUS ≤ 10 MB of tiles, ≤ 60 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
