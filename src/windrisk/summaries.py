"""Regional summaries: building risk per county and per state, from the CONUS GeoParquet.

In: the CONUS building file (``id``, point ``geometry``, ``rps_2011``/``rps_2047`` in %,
``score_2011``/``score_2047``, see windrisk.buildings) and the Census boundaries
(windrisk.boundaries). Out, per area holding at least one building, sorted by GEOID:

    GEOID, name ('Sonoma County, CA' / 'California'), STUSPS, n_buildings,
    per climate run r in 2011, 2047:
      n_no_data_r                      buildings without an RPS value
      mean_rps_r, p50_rps_r, p90_rps_r, p99_rps_r
                                       RPS in %, float64, exact (numpy's linear percentile of
                                       the stored float32 values), null when no value
      median_score_r                   the lower median of the scores, null when none is scored
      n_score_0_r .. n_score_10_r      buildings per score
    geometry                           the area's polygons, EPSG:4326, GeoParquet 1.1 (WKB)

and the same as CSV without geometry, with ``lon``/``lat`` of a point inside the area.

How: the file is streamed one row group at a time. Each point goes to the county that contains
it or has it on its edge; on an edge shared by two counties, to the lowest GEOID (counties are
tried in GEOID order and a point keeps its first county). Points in no county are counted as
outside. A state's buildings are those of its counties (the Census files share their edges).
Memory: the RPS values with data are kept per county as float32 for exact percentiles, i.e.
at most 8 bytes per building (2 runs): ~1.3 GB for CONUS's ~156 M buildings, plus one row group
and, while a state is summarised, one copy of its values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import shapely

from windrisk.boundaries import Boundaries
from windrisk.buildings import float64_values, geo_metadata
from windrisk.io import atomic_path, write_json_atomic
from windrisk.variables import CLIMATE_RUNS

log = logging.getLogger(__name__)

RUNS: Final = CLIMATE_RUNS
N_SCORES: Final = 11  # scores 0..10
PERCENTILES: Final = (50, 90, 99)
NO_SCORE: Final = 255
BATCH_ROWS: Final = 100_000


def columns_of_run(run: str) -> list[str]:
    """The summary columns of one climate run, in file order."""
    return [
        f"n_no_data_{run}",
        f"mean_rps_{run}",
        *(f"p{q}_rps_{run}" for q in PERCENTILES),
        f"median_score_{run}",
        *(f"n_score_{k}_{run}" for k in range(N_SCORES)),
    ]


def summary_schema(with_geometry: bool = True) -> pa.Schema:
    """The contract of the summary files (the map's choropleth reads them)."""
    fields = [pa.field("GEOID", pa.string()), pa.field("name", pa.string()), pa.field("STUSPS", pa.string())]
    fields.append(pa.field("n_buildings", pa.int64()))
    for run in RUNS:
        for name in columns_of_run(run):
            fields.append(pa.field(name, pa.float64() if "rps" in name else pa.int64()))
    fields += (
        [pa.field("geometry", pa.binary())] if with_geometry else [pa.field(c, pa.float64()) for c in ("lon", "lat")]
    )
    return pa.schema(fields)


# ---- assigning points to counties ------------------------------------------------------------
class CountyIndex:
    """Points → index of their county (GEOID order; -1 outside every county)."""

    def __init__(self, counties: Boundaries) -> None:
        self.geometry = counties.geometry
        shapely.prepare(self.geometry)
        self.bounds = shapely.bounds(self.geometry)
        self.tree = shapely.STRtree(self.geometry)

    def assign(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.full(len(x), -1, dtype=np.int64)
        if len(x) == 0:
            return out
        near = self.tree.query(shapely.box(x.min(), y.min(), x.max(), y.max()))
        for i in np.sort(near):  # GEOID order: on a shared edge the lowest GEOID keeps the point
            xmin, ymin, xmax, ymax = self.bounds[i]
            sel = np.flatnonzero((out < 0) & (x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))
            if sel.size:
                out[sel[shapely.intersects_xy(self.geometry[i], x[sel], y[sel])]] = i
        return out


# ---- accumulating ------------------------------------------------------------------------
@dataclass
class Tally:
    """Running counts and kept RPS values of a set of areas (index 0..n-1)."""

    n_areas: int
    n_buildings: np.ndarray = field(init=False)
    n_no_data: dict[str, np.ndarray] = field(init=False)
    score_counts: dict[str, np.ndarray] = field(init=False)  # (n_areas, N_SCORES)
    values: dict[str, list[list[np.ndarray]]] = field(init=False)  # run → area → float32 chunks

    def __post_init__(self) -> None:
        self.n_buildings = np.zeros(self.n_areas, np.int64)
        self.n_no_data = {r: np.zeros(self.n_areas, np.int64) for r in RUNS}
        self.score_counts = {r: np.zeros((self.n_areas, N_SCORES), np.int64) for r in RUNS}
        self.values = {r: [[] for _ in range(self.n_areas)] for r in RUNS}

    def add(self, area: np.ndarray, rps: Mapping[str, np.ndarray], scores: Mapping[str, np.ndarray]) -> None:
        """Rows of one batch: area index (>= 0), RPS (float32, NaN = no data), score (255 = none)."""
        k = self.n_areas
        self.n_buildings += np.bincount(area, minlength=k)
        for run in RUNS:
            missing = np.isnan(rps[run])
            self.n_no_data[run] += np.bincount(area[missing], minlength=k)
            scored = scores[run] != NO_SCORE
            flat = area[scored] * N_SCORES + scores[run][scored].astype(np.int64)
            self.score_counts[run] += np.bincount(flat, minlength=k * N_SCORES).reshape(k, N_SCORES)
            owner, value = area[~missing], rps[run][~missing]
            order = np.argsort(owner, kind="stable")
            owner, value = owner[order], value[order]
            if value.size == 0:
                continue
            cuts = np.flatnonzero(np.diff(owner)) + 1
            for start, part in zip(np.concatenate([[0], cuts]), np.split(value, cuts), strict=True):
                self.values[run][int(owner[start])].append(part)  # a view of this batch's sorted copy

    def area_values(self, run: str, areas: list[int]) -> np.ndarray:
        chunks = [c for a in areas for c in self.values[run][a]]
        return np.concatenate(chunks) if chunks else np.empty(0, np.float32)


def lower_median(counts: np.ndarray) -> int | None:
    """The lower median of values 0..len(counts)-1 given their counts; None when there are none."""
    n = int(counts.sum())
    if n == 0:
        return None
    return int(np.searchsorted(np.cumsum(counts), (n - 1) // 2, side="right"))


def area_stats(tally: Tally, areas: list[int]) -> dict[str, Any]:
    """The summary columns (without identity and geometry) of the union of ``areas``."""
    row: dict[str, Any] = {"n_buildings": int(tally.n_buildings[areas].sum())}
    for run in RUNS:
        values = tally.area_values(run, areas).astype(np.float64)
        counts = tally.score_counts[run][areas].sum(axis=0)
        row[f"n_no_data_{run}"] = int(tally.n_no_data[run][areas].sum())
        row[f"mean_rps_{run}"] = float(values.mean()) if values.size else None
        for q, v in zip(PERCENTILES, np.percentile(values, PERCENTILES) if values.size else [None] * 3, strict=True):
            row[f"p{q}_rps_{run}"] = None if v is None else float(v)
        row[f"median_score_{run}"] = lower_median(counts)
        row.update({f"n_score_{k}_{run}": int(counts[k]) for k in range(N_SCORES)})
    return row


# ---- reading -------------------------------------------------------------------------------
def _float32_with_nan(arr: pa.Array) -> np.ndarray:
    return float64_values(pc.fill_null(pc.cast(arr, pa.float64()), np.nan)).astype(np.float32)


def _scores(arr: pa.Array) -> np.ndarray:
    filled = pc.fill_null(pc.cast(arr, pa.int64()), NO_SCORE)
    return np.frombuffer(filled.buffers()[1], np.int64)[filled.offset : filled.offset + len(filled)]


def _batches(path: str | Path, rows: int) -> Iterator[pa.RecordBatch]:
    columns = ["geometry", *(f"rps_{r}" for r in RUNS), *(f"score_{r}" for r in RUNS)]
    yield from pq.ParquetFile(path).iter_batches(batch_size=rows, columns=columns)


def tally_buildings(path: str | Path, counties: Boundaries, rows: int = BATCH_ROWS) -> tuple[Tally, dict[str, int]]:
    """Stream the building file: the per-county tally and the accounting of every row."""
    index, tally = CountyIndex(counties), Tally(len(counties))
    total = outside = 0
    for batch in _batches(path, rows):
        geom = batch.column("geometry")
        x = float64_values(pc.struct_field(geom, "x"))
        y = float64_values(pc.struct_field(geom, "y"))
        area = index.assign(x, y)
        inside = area >= 0
        total += len(area)
        outside += int((~inside).sum())
        rps = {r: _float32_with_nan(batch.column(f"rps_{r}"))[inside] for r in RUNS}
        scores = {r: _scores(batch.column(f"score_{r}"))[inside] for r in RUNS}
        tally.add(area[inside], rps, scores)
    return tally, {"buildings": total, "in_counties": total - outside, "outside_counties": outside}


# ---- writing -------------------------------------------------------------------------------
def summary_rows(tally: Tally, counties: Boundaries, states: Boundaries) -> tuple[list[dict], list[dict], int]:
    """Rows of the county and state files (areas with buildings) and the buildings whose county's
    state is not in the states file."""
    county_rows, members = [], {}
    for i in np.flatnonzero(tally.n_buildings):
        geoid = counties.geoid[i]
        county_rows.append(
            {"GEOID": geoid, "name": counties.label(i), "STUSPS": counties.attributes["STUSPS"][i], "geometry": i}
            | area_stats(tally, [int(i)])
        )
        members.setdefault(geoid[:2], []).append(int(i))
    state_of = {geoid: j for j, geoid in enumerate(states.geoid)}
    state_rows = [
        {"GEOID": fips, "name": states.label(j), "STUSPS": states.attributes["STUSPS"][j], "geometry": j}
        | area_stats(tally, areas)
        for fips, areas in sorted(members.items())
        if (j := state_of.get(fips)) is not None
    ]
    stateless = sum(int(tally.n_buildings[a].sum()) for f, a in members.items() if f not in state_of)
    return county_rows, state_rows, stateless


def write_summary(rows: list[dict], geometry: np.ndarray, parquet: str | Path, csv: str | Path) -> None:
    """Rows (``geometry``: index into ``geometry``) → GeoParquet 1.1 and CSV, both atomically."""
    shapes = np.asarray([geometry[r["geometry"]] for r in rows], dtype=object)
    plain = [{k: v for k, v in r.items() if k != "geometry"} for r in rows]
    schema = summary_schema()
    table = pa.Table.from_pylist(
        [p | {"geometry": shapely.to_wkb(s)} for p, s in zip(plain, shapes, strict=True)], schema
    )
    geo = geo_metadata(tuple(shapely.total_bounds(shapes)) if len(shapes) else None)
    geo["columns"]["geometry"].update(encoding="WKB", geometry_types=["MultiPolygon", "Polygon"])
    table = table.replace_schema_metadata({"geo": json.dumps(geo)})
    with atomic_path(parquet) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    inner = shapely.point_on_surface(shapes) if len(shapes) else np.empty(0, object)
    points = [{"lon": float(shapely.get_x(p)), "lat": float(shapely.get_y(p))} for p in inner]
    csv_table = pa.Table.from_pylist([p | q for p, q in zip(plain, points, strict=True)], summary_schema(False))
    with atomic_path(csv) as tmp:
        pacsv.write_csv(csv_table, tmp)


def summarise(
    buildings: str | Path,
    counties: Boundaries,
    states: Boundaries,
    outputs: Mapping[str, str],
    rows: int = BATCH_ROWS,
) -> dict[str, int]:
    """Write the county and state summaries (``outputs``: county_summaries, county_summaries_csv,
    state_summaries, state_summaries_csv, summaries_accounting); return the accounting."""
    tally, accounting = tally_buildings(buildings, counties, rows)
    county_rows, state_rows, stateless = summary_rows(tally, counties, states)
    write_summary(county_rows, counties.geometry, outputs["county_summaries"], outputs["county_summaries_csv"])
    write_summary(state_rows, states.geometry, outputs["state_summaries"], outputs["state_summaries_csv"])
    accounting |= {"counties": len(county_rows), "states": len(state_rows), "in_counties_of_no_state": stateless}
    if accounting["outside_counties"]:
        log.warning("%d of %d buildings lie in no county", accounting["outside_counties"], accounting["buildings"])
    if stateless:
        log.warning("%d buildings lie in counties whose state is not in the states file", stateless)
    write_json_atomic(outputs["summaries_accounting"], accounting)
    return accounting
