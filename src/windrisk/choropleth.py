"""The map's choropleth: the county and state summaries (windrisk.summaries) as one PMTiles.

Its own module, so that editing the building tiler (windrisk.tiles) re-runs only ``pmtiles``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import shapely

from windrisk import vectortiles
from windrisk.io import atomic_path
from windrisk.variables import CLIMATE_RUNS

# Zooms of the summary layers; the map shows states up to z5, counties z5-9 (web/map.js).
SUMMARY_ZOOMS: dict[str, tuple[int, int]] = {"states": (0, 5), "counties": (3, 9)}


def summary_columns() -> list[str]:
    """The summary GeoParquets' attributes the map colours and its popup shows, per the contract."""
    per_run = [f"{c}_{r}" for r in CLIMATE_RUNS for c in ("n_no_data", "median_score", "p90_rps")]
    return ["GEOID", "name", "STUSPS", "n_buildings", *per_run]


def summary_layer(path: str | Path, name: str) -> dict[str, Any]:
    """Layer ``name`` of the map from a summary GeoParquet (lon/lat, per windrisk.summaries):
    ``summary_columns()`` and the polygons."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; build the regional summaries first (snakemake summaries)")
    names = pq.read_schema(path).names
    missing = [c for c in summary_columns() if c not in names]
    if missing:
        raise ValueError(f"{path} lacks the summary columns {missing}; rebuild it with the summary contract's columns")
    table = pq.read_table(path, columns=[*summary_columns(), "geometry"])
    columns = {c: table.column(c).to_pylist() for c in summary_columns()}
    geometries = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    zmin, zmax = SUMMARY_ZOOMS[name]
    return vectortiles.layer(name, geometries, columns, zmin, zmax)


def build_summary_pmtiles(states_parquet: str | Path, counties_parquet: str | Path, target: str | Path) -> Path:
    """One PMTiles with polygon layers ``states`` (z0-5) and ``counties`` (z3-9) for the map."""
    layers = [summary_layer(states_parquet, "states"), summary_layer(counties_parquet, "counties")]
    zmin = min(z[0] for z in SUMMARY_ZOOMS.values())
    zmax = max(z[1] for z in SUMMARY_ZOOMS.values())
    with atomic_path(target) as tmp:
        vectortiles.write_layers(layers, tmp, zmin, zmax)
    return Path(target)
