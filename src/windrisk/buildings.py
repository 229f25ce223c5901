"""Step 2: one region's buildings → GeoParquet of building-centroid risk.

Choices (docs/method.md, "Buildings", says the same for users):

* **Centroid**: the planar centroid of the footprint in EPSG:4326 coordinates (as the published
  code did). For ~20 m footprints it differs from a geodesic centroid by micrometres, far below
  the ~34 m pixel.
* **Ownership**: the building belongs to the pixel ``floor(inverse_affine(centroid))``
  (``RegionGrid.pixel_index``), so a centroid exactly on a shared edge or corner lands in exactly
  one region.
* **Candidates**: only row groups whose bbox-covering statistics intersect the region (widened by
  ``BBOX_MARGIN_DEG`` for float32 rounding of the covering) are read. A footprint's centroid lies
  inside its bbox, so bbox ∩ region is exactly the "region widened by the footprint size" test.
* **Encoding**: GeoParquet 1.1 with native GeoArrow ``point`` (``struct<x, y>``). For points it is
  about half the size of WKB + bbox covering and its x/y column statistics still prune row groups.
  Cost: DuckDB's core reads the column as STRUCT(x, y), not GEOMETRY.
* **Sort**: Hilbert distance (level 16) over the fixed ``CONUS_EXTENT``, so region files
  concatenated in order of their first key are nearly globally sorted.
* **Scores**: RPS (%) ≤ 0 → 0; bins are closed on the right, ``(0, 0.01] → 1``, ``(0.01, 0.02] →
  2`` … ``(1, 3] → 9``, ``(3, 100] → 10``; a value exactly on an edge takes the lower score and
  anything above 100 stays 10. Edges are compared at float32, the stored precision. Null where RPS
  is null.
* **Nulls**: variables are null where the pixel is NaN. ``null_reason`` is ``no_data_at_pixel``
  (every variable NaN), ``partial_data_at_pixel`` (some NaN) or null when all are present.
* **Rows that are not written** are counted, never dropped silently. A row is dropped for a null
  id, a null, unparseable or empty geometry, or NaN coordinates (``DEFECTS``), and for a repeated
  id: the first usable row of an id (file order) wins, every other row of that id is dropped,
  whatever its shape. An invalid footprint (e.g. self-intersecting) is kept, with the centroid of
  its repaired shape (``shapely.make_valid``). A row without a usable centroid is owned by the
  region of its bbox centre, so it is counted once, there. Rows outside the grid, or without any
  location, are counted by the input check (``census_problems``), which scans the whole file once
  and fails when more than ``buildings.max_dropped_fraction`` of it would be dropped or when the
  bbox covering misses a footprint. Each region file carries its account (rows owned, written,
  dropped by reason) in its schema metadata, and the region job checks it against the census.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from windrisk.grid import RegionGrid, region_id
from windrisk.io import atomic_path
from windrisk.timing import step
from windrisk.variables import VARIABLES

if TYPE_CHECKING:
    from windrisk.settings import Settings

# Pixel-edge bounds of the published CONUS grid (config/conus.yaml): a fixed, global Hilbert frame.
CONUS_EXTENT: tuple[float, float, float, float] = (
    -128.3875562194317,
    22.428114227623333,
    -128.3875562194317 + 208_881 * 0.00030799387843671866,
    22.428114227623333 + 97_579 * 0.00030799387843671866,
)
HILBERT_LEVEL = 16
# Overture's bbox covering is float32 (ulp ≤ 1.6e-5° in CONUS): widen the candidate box by more.
BBOX_MARGIN_DEG = 1e-4
SCORE_EDGES_PCT = np.array([0.0, 0.01, 0.02, 0.035, 0.06, 0.1, 0.2, 0.5, 1.0, 3.0])
NO_DATA = "no_data_at_pixel"
PARTIAL_DATA = "partial_data_at_pixel"
POINT_TYPE = pa.struct([pa.field("x", pa.float64(), nullable=False), pa.field("y", pa.float64(), nullable=False)])
FLOAT_COLUMNS = tuple(VARIABLES)
SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("region_id", pa.dictionary(pa.int32(), pa.string())),
        *(pa.field(name, pa.float32()) for name in VARIABLES),
        pa.field("score_2011", pa.uint8()),
        pa.field("score_2047", pa.uint8()),
        pa.field("null_reason", pa.string()),
        pa.field("geometry", POINT_TYPE),
    ]
)


@cache
def crs_projjson() -> dict[str, Any]:
    """PROJJSON of EPSG:4326, the CRS of every building file."""
    from pyproj import CRS

    return CRS.from_epsg(4326).to_json_dict()


def geo_metadata(bbox: tuple[float, float, float, float] | None) -> dict[str, Any]:
    """The GeoParquet 1.1 ``geo`` metadata of a building file with the given extent."""
    column: dict[str, Any] = {"encoding": "point", "geometry_types": ["Point"], "crs": crs_projjson()}
    if bbox is not None:
        column["bbox"] = [float(v) for v in bbox]
    return {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}


def file_schema(bbox: tuple[float, float, float, float] | None) -> pa.Schema:
    """``SCHEMA`` with the ``geo`` metadata of a building file of that extent."""
    return SCHEMA.with_metadata({b"geo": json.dumps(geo_metadata(bbox)).encode()})


def writer_options(row_group_size: int) -> dict[str, Any]:
    """ParquetWriter options shared by region and CONUS files (zstd, dictionary ids, BSS floats)."""
    return {
        "compression": "zstd",
        "compression_level": 3,  # level 9 costs 2.6x the CPU for 2% smaller files
        "use_dictionary": ["region_id", "null_reason"],
        # Byte-stream split: float columns compress better and faster (measured: -6 % size, -15 % CPU).
        "column_encoding": {name: "BYTE_STREAM_SPLIT" for name in (*FLOAT_COLUMNS, "geometry.x", "geometry.y")},
        "write_statistics": True,
        "max_rows_per_page": min(row_group_size, 20_000),
    }


def score(rps_pct: np.ndarray) -> pa.Array:
    """Published 0–10 score of RPS in % (right-closed bins; null where RPS is NaN)."""
    # Compare at float32, the stored precision: a stored 0.035 is on the edge, not just above it.
    rps = np.asarray(rps_pct, dtype=np.float32)
    out = np.searchsorted(SCORE_EDGES_PCT.astype(np.float32), rps, side="left").astype(np.uint8)
    out[rps <= 0] = 0
    return pa.array(out, type=pa.uint8(), mask=np.isnan(rps))


def null_reasons(values: Mapping[str, np.ndarray], n: int) -> pa.Array:
    """``null_reason`` per row from the NaN pattern of the variables."""
    nan = np.stack([np.isnan(values[name]) for name in VARIABLES]) if n else np.zeros((len(VARIABLES), 0), bool)
    reason = np.full(n, None, dtype=object)
    reason[nan.any(axis=0)] = PARTIAL_DATA
    reason[nan.all(axis=0)] = NO_DATA
    return pa.array(reason, type=pa.string())


def _interleave(v: np.ndarray) -> np.ndarray:
    for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
        v = (v | (v << shift)) & mask
    return v


def _hilbert_encode(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """16-bit x, y → Hilbert index (rawrunprotected's public-domain prefix-scan algorithm).

    The same algorithm and output as geopandas' ``hilbert_distance``; kept here because importing
    geopandas costs seconds in the aggregate and tiles processes.
    """
    x, y = x.astype(np.uint32), y.astype(np.uint32)
    a, b, c, d = x ^ y, 0xFFFF ^ (x ^ y), 0xFFFF ^ (x | y), x & (y ^ 0xFFFF)
    A, B = a | (b >> 1), (a >> 1) ^ a
    C, D = ((c >> 1) ^ (b & (d >> 1))) ^ c, ((a & (c >> 1)) ^ (d >> 1)) ^ d
    for s in (2, 4, 8):
        a, b, c, d = A, B, C, D
        if s != 8:
            A = (a & (a >> s)) ^ (b & (b >> s))
            B = (a & (b >> s)) ^ (b & ((a ^ b) >> s))
        C = c ^ (a & (c >> s)) ^ (b & (d >> s))
        D = d ^ (b & (c >> s)) ^ ((a ^ b) & (d >> s))
    a, b = C ^ (C >> 1), D ^ (D >> 1)
    i0 = x ^ y
    i1 = b | (0xFFFF ^ (i0 | a))
    return (_interleave(i1) << 1) | _interleave(i0)


def hilbert_key(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Hilbert distance (level 16) of points over ``CONUS_EXTENT``; points outside are clamped."""
    xmin, ymin, xmax, ymax = CONUS_EXTENT
    side = (1 << HILBERT_LEVEL) - 1
    xi = np.clip((np.asarray(x, np.float64) - xmin) * (side / (xmax - xmin)), 0, side)
    yi = np.clip((np.asarray(y, np.float64) - ymin) * (side / (ymax - ymin)), 0, side)
    return _hilbert_encode(xi, yi)


def float64_values(arr: pa.Array) -> np.ndarray:
    """Zero-copy numpy view of a null-free float64 Arrow array.

    ``to_numpy`` would import pandas, which costs seconds per process where no bytecode is cached.
    """
    return np.frombuffer(arr.buffers()[1], dtype=np.float64)[arr.offset : arr.offset + len(arr)]


def point_array(x: np.ndarray, y: np.ndarray) -> pa.StructArray:
    """GeoArrow ``point`` (struct<x, y>) from coordinate arrays."""
    return pa.StructArray.from_arrays([pa.array(x, pa.float64()), pa.array(y, pa.float64())], fields=list(POINT_TYPE))


def building_table(
    rid: str, ids: np.ndarray, x: np.ndarray, y: np.ndarray, values: Mapping[str, np.ndarray]
) -> pa.Table:
    """Rows of one region's buildings in ``SCHEMA``, Hilbert-sorted."""
    order = np.argsort(hilbert_key(x, y), kind="stable")
    n = len(order)
    vals = {name: np.asarray(values[name], dtype=np.float32)[order] for name in VARIABLES}
    columns = {
        "id": pa.array(np.asarray(ids, dtype=object)[order], pa.string()),
        "region_id": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([rid])),
        **{name: pa.array(v, pa.float32(), from_pandas=True) for name, v in vals.items()},
        "score_2011": score(vals["rps_2011"]),
        "score_2047": score(vals["rps_2047"]),
        "null_reason": null_reasons(vals, n),
        "geometry": point_array(np.asarray(x)[order], np.asarray(y)[order]),
    }
    return pa.table(columns, schema=SCHEMA)


def bbox_of(table: pa.Table) -> tuple[float, float, float, float] | None:
    """Extent of a building table's points, or None when it is empty."""
    if table.num_rows == 0:
        return None
    geom = table.column("geometry")
    xs, ys = pc.min_max(pc.struct_field(geom, "x")), pc.min_max(pc.struct_field(geom, "y"))
    return (xs["min"].as_py(), ys["min"].as_py(), xs["max"].as_py(), ys["max"].as_py())


def write_building_file(table: pa.Table, target: str | Path, row_group_size: int) -> None:
    """Write a building table as GeoParquet 1.1 (geoarrow point, zstd), atomically; the table's
    own schema metadata (a region's account) is kept beside ``geo``."""
    geo_schema = file_schema(bbox_of(table))
    schema = geo_schema.with_metadata({**(table.schema.metadata or {}), **geo_schema.metadata})
    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, **writer_options(row_group_size)) as writer:
        writer.write_table(table.cast(schema), row_group_size=row_group_size)


# ---- the input file: schema, row policy, census ---------------------------------------------
# Rows that are not written, by reason (checked in this order). Every other row is written; an
# invalid footprint (e.g. self-intersecting) is kept, with the centroid of its repaired shape.
DEFECTS: Final = ("null_id", "null_geometry", "unparseable_wkb", "empty_geometry", "nan_coordinates")
DUPLICATE: Final = "duplicate_id"
DROP_REASONS: Final = (*DEFECTS, DUPLICATE)
ACCOUNT_KEY: Final = b"windrisk"
GEOGRAPHIC_CRS_IDS: Final = ("EPSG:4326", "OGC:CRS84")
CONVERT_FIX: Final = (
    "rewrite it as GeoParquet 1.1 with a bbox covering, e.g. in Python: geopandas.read_file(SRC)"
    ".to_crs(4326).to_parquet(DST, schema_version='1.1.0', write_covering_bbox=True), or "
    "ogr2ogr -t_srs EPSG:4326 -lco WRITE_COVERING_BBOX=YES DST.parquet SRC (GDAL >= 3.9)"
)


def _filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    if "://" in location:
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), str(Path(location).resolve())


@dataclass(frozen=True)
class BuildingColumns:
    """Where a buildings file keeps what we read: id, WKB geometry and the bbox covering."""

    id: str
    geometry: str
    covering: str  # the struct column with xmin, ymin, xmax, ymax


def schema_problems(schema: pa.Schema, location: str) -> tuple[BuildingColumns | None, list[str]]:
    """The columns to read, or the reasons (each with its fix) the file cannot be used."""
    where = f"inputs.buildings ({location})"
    try:
        geo = json.loads((schema.metadata or {})[b"geo"])
    except (KeyError, json.JSONDecodeError):
        return None, [f"{where}: it is not GeoParquet (no valid 'geo' metadata). Fix: {CONVERT_FIX}"]
    primary = geo.get("primary_column", "geometry")
    column = geo.get("columns", {}).get(primary, {})
    problems = []
    if primary not in schema.names:
        problems.append(
            f"{where}: the 'geo' metadata names geometry column {primary!r}, which the file lacks "
            f"(columns: {schema.names}). Fix: {CONVERT_FIX}"
        )
    if str(column.get("encoding", "WKB")).upper() != "WKB":
        problems.append(
            f"{where}: geometry encoding {column.get('encoding')!r}; footprints must be WKB. Fix: {CONVERT_FIX}"
        )
    covering = column.get("covering", {}).get("bbox", {}).get("xmin", [None])[0]
    if covering is None or covering not in schema.names:
        problems.append(
            f"{where}: no bbox covering column (region jobs read only the row groups and rows whose "
            f"bbox meets their region). Fix: {CONVERT_FIX}"
        )
    if "id" not in schema.names:
        problems.append(f"{where}: no 'id' column (Overture's building id). Fix: add one, unique per building")
    crs = column.get("crs")
    if crs is not None and not _is_lon_lat(crs):
        problems.append(f"{where}: geometry CRS is not EPSG:4326 / OGC:CRS84. Fix: {CONVERT_FIX}")
    if problems:
        return None, problems
    return BuildingColumns("id", primary, covering), []


def _is_lon_lat(crs: Any) -> bool:
    from pyproj import CRS

    try:
        parsed = CRS.from_user_input(crs)
    except Exception:  # noqa: BLE001 - any unparsable CRS is "not lon/lat"
        return False
    return any(parsed == CRS.from_user_input(ref) for ref in GEOGRAPHIC_CRS_IDS)


def covering_columns(schema: pa.Schema, location: str) -> tuple[str, str]:
    """(geometry column, bbox covering column) named in the file's ``geo`` metadata."""
    columns, problems = schema_problems(schema, location)
    if columns is None:
        raise ValueError("; ".join(problems))
    return columns.geometry, columns.covering


def bbox_filter(covering: str, bounds: tuple[float, float, float, float]) -> pc.Expression:
    """Rows (and row groups, via statistics) whose bbox intersects ``bounds`` widened by the margin."""
    left, bottom, right, top = bounds
    m = BBOX_MARGIN_DEG
    f = lambda name: pc.field(covering, name)
    return (f("xmin") <= right + m) & (f("xmax") >= left - m) & (f("ymin") <= top + m) & (f("ymax") >= bottom - m)


def _dataset(location: str) -> Any:
    import pyarrow.dataset as pads  # imports pandas: kept off the aggregate/tiles import path

    fs, path = _filesystem(location)
    return pads.dataset(path, format="parquet", filesystem=fs)


def candidate_fragments(
    location: str, bounds: tuple[float, float, float, float]
) -> tuple[list[Any], pc.Expression, BuildingColumns]:
    """Row-group fragments of the buildings file whose statistics may hold rows in ``bounds``."""
    dataset = _dataset(location)
    columns, problems = schema_problems(dataset.schema, location)
    if columns is None:
        raise ValueError("; ".join(problems))
    expr = bbox_filter(columns.covering, bounds)
    fragments = [rg for frag in dataset.get_fragments() for rg in frag.split_by_row_group(expr)]
    return fragments, expr, columns


def _standard(table: pa.Table, columns: BuildingColumns) -> pa.Table:
    """``id``, ``geometry`` (WKB) and ``bbox`` (struct) whatever the file calls them."""
    return pa.table(
        {
            "id": table.column(columns.id),
            "geometry": table.column(columns.geometry),
            "bbox": table.column(columns.covering),
        }
    )


def read_candidates(location: str, bounds: tuple[float, float, float, float]) -> pa.Table:
    """``id``, WKB ``geometry`` and ``bbox`` of the rows whose bbox intersects ``bounds``, in file order."""
    fragments, expr, columns = candidate_fragments(location, bounds)
    wanted = [columns.id, columns.geometry, columns.covering]
    tables = [_standard(frag.to_table(filter=expr, columns=wanted), columns) for frag in fragments]
    if not tables:
        empty = pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])
        return pa.table(
            {"id": pa.array([], pa.string()), "geometry": pa.array([], pa.binary()), "bbox": pa.array([], empty)}
        )
    return pa.concat_tables(tables, promote_options="permissive")


def bbox_arrays(bbox: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """(n, 4) float64 xmin, ymin, xmax, ymax of a covering column; NaN where null."""
    return np.column_stack(
        [
            np.asarray(pc.struct_field(bbox, name).to_numpy(zero_copy_only=False), dtype=np.float64)
            for name in ("xmin", "ymin", "xmax", "ymax")
        ]
    ).reshape(-1, 4)


@dataclass(frozen=True)
class Footprints:
    """Rows of a buildings file, classified: centroid, the point that decides the owner region,
    and why a row cannot be written (index into ``DEFECTS``, -1 for none)."""

    x: np.ndarray
    y: np.ndarray
    owner_x: np.ndarray
    owner_y: np.ndarray
    defect: np.ndarray
    repaired: np.ndarray


def classify(ids: pa.ChunkedArray | pa.Array, wkb: pa.ChunkedArray | pa.Array, bbox: np.ndarray) -> Footprints:
    """Parse footprints, take centroids (of the repaired shape where invalid) and find defects.

    The owner point is the centroid, or the bbox centre for rows without a usable centroid, so
    every row with any location is counted in exactly one region.
    """
    import shapely

    n = len(wkb)
    defect = np.full(n, -1, dtype=np.int8)
    raw = np.asarray(wkb.to_numpy(zero_copy_only=False), dtype=object)
    null_geometry = np.asarray(pc.is_null(wkb).to_numpy(zero_copy_only=False), dtype=bool)
    with np.errstate(invalid="ignore"):  # NaN coordinates: counted below, not warned about
        geoms = shapely.from_wkb(raw, on_invalid="ignore")
        missing = shapely.is_missing(geoms)
        empty = ~missing & shapely.is_empty(geoms)
        usable = ~missing & ~empty
        cent = np.full(n, None, dtype=object)
        cent[usable] = shapely.centroid(geoms[usable])
        located = usable & ~shapely.is_empty(cent)  # NaN coordinates give an empty centroid
        invalid = located & ~shapely.is_valid(geoms)
        if invalid.any():
            cent[invalid] = shapely.centroid(shapely.make_valid(geoms[invalid]))
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    x[located], y[located] = shapely.get_x(cent[located]), shapely.get_y(cent[located])
    finite = np.isfinite(x) & np.isfinite(y)
    for code, rows in reversed(
        list(
            enumerate(
                (
                    np.asarray(pc.is_null(ids).to_numpy(zero_copy_only=False), dtype=bool),
                    null_geometry,
                    missing & ~null_geometry,
                    empty,
                    usable & ~finite,
                )
            )
        )
    ):
        defect[rows] = code
    owner_x = np.where(finite, x, (bbox[:, 0] + bbox[:, 2]) / 2)
    owner_y = np.where(finite, y, (bbox[:, 1] + bbox[:, 3]) / 2)
    return Footprints(x, y, owner_x, owner_y, defect, invalid & finite)


def covering_misses(fp: Footprints, bbox: np.ndarray) -> np.ndarray:
    """Rows whose centroid lies outside their covering bbox (widened by the margin): region jobs,
    which select rows by the covering, could miss them."""
    m = BBOX_MARGIN_DEG
    with np.errstate(invalid="ignore"):
        inside = (
            (fp.x >= bbox[:, 0] - m) & (fp.x <= bbox[:, 2] + m) & (fp.y >= bbox[:, 1] - m) & (fp.y <= bbox[:, 3] + m)
        )
    return np.isfinite(fp.x) & ~inside


def wkb_digest(wkb: bytes) -> str:
    """Short content digest of one footprint (tells duplicate ids with other shapes apart)."""
    return hashlib.sha1(wkb).hexdigest()


def owned_by(grid: RegionGrid, rid: str, fp: Footprints) -> np.ndarray:
    """Rows whose owner point lies in region ``rid`` (half-open pixel edges)."""
    return select_region(grid, rid, fp.owner_x, fp.owner_y)[0]


def keep_rows(
    ids: np.ndarray, wkb: pa.ChunkedArray | pa.Array, candidates: np.ndarray, duplicates: Mapping[str, str]
) -> np.ndarray:
    """Of the ``candidates`` rows (defect-free, owned), those to write: an id listed in
    ``duplicates`` keeps only its first row whose footprint matches the winner's digest; any other
    repeated id keeps its first row (file order)."""
    keep = candidates.copy()
    seen: set[str] = set()
    for i in np.flatnonzero(candidates):
        key = ids[i]
        winner = duplicates.get(key)
        if key in seen or (winner is not None and wkb_digest(wkb[int(i)].as_py()) != winner):
            keep[i] = False
        else:
            seen.add(key)
    return keep


def region_selection(
    location: str, grid: RegionGrid, rid: str, census: Mapping[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """(ids, x, y) of the buildings region ``rid`` writes, and its account of every row it owns.

    ``census`` (from the input check) supplies duplicate ids across the whole file and the number
    of rows the region must own; a mismatch means rows were lost and is an error.
    """
    table = read_candidates(location, grid.region_bounds(rid))
    ids = np.asarray(table.column("id").to_numpy(zero_copy_only=False), dtype=object)
    fp = classify(table.column("id"), table.column("geometry"), bbox_arrays(table.column("bbox")))
    owned = owned_by(grid, rid, fp)
    wkb = table.column("geometry")
    keep = keep_rows(ids, wkb, owned & (fp.defect < 0), (census or {}).get("duplicate_ids", {}))
    dropped = {reason: int(np.count_nonzero(owned & (fp.defect == code))) for code, reason in enumerate(DEFECTS)}
    dropped[DUPLICATE] = int(np.count_nonzero(owned & (fp.defect < 0) & ~keep))
    account = {
        "region_id": rid,
        "rows_owned": int(owned.sum()),
        "written": int(keep.sum()),
        "dropped": dropped,
        "repaired_invalid": int(np.count_nonzero(keep & fp.repaired)),
    }
    if census is not None:
        expected = int(census["regions"].get(rid, {}).get("rows", 0))
        if expected != account["rows_owned"]:
            raise RuntimeError(
                f"region {rid}: owns {account['rows_owned']} rows of inputs.buildings but the input "
                f"check counted {expected}; the file changed after its check, re-run the workflow"
            )
    return ids[keep], fp.x[keep], fp.y[keep], account


def census_problems(
    location: str, grid: RegionGrid, data_regions: list[str], max_dropped_fraction: float
) -> tuple[list[str], dict[str, Any]]:
    """Scan every row of the buildings file: (problems, census). The census counts every row: per
    region owned / dropped by reason, outside the grid, without any location; duplicate ids with
    the digest of the footprint that wins (the first usable row in file order)."""
    dataset = _dataset(location)
    columns, problems = schema_problems(dataset.schema, location)
    if columns is None:
        return problems, {}
    scan = _CensusScan(grid, set(data_regions))
    for table in _row_groups(dataset, columns):
        scan.add(table)
    census = scan.finish(lambda: _row_groups(dataset, columns))
    return scan.problems(location, census, max_dropped_fraction), census


def _row_groups(dataset: Any, columns: BuildingColumns) -> Iterator[pa.Table]:
    wanted = [columns.id, columns.geometry, columns.covering]
    for fragment in dataset.get_fragments():
        for row_group in fragment.split_by_row_group():
            yield _standard(row_group.to_table(columns=wanted), columns)


class _CensusScan:
    """Accumulates the census one row group at a time (memory: 9 bytes per row for id hashes)."""

    def __init__(self, grid: RegionGrid, data_regions: set[str]) -> None:
        self.grid, self.data_regions = grid, data_regions
        self.rows = 0
        self.owned = np.zeros(grid.n_chunks, np.int64)
        self.defects = np.zeros((len(DEFECTS), *grid.n_chunks), np.int64)
        self.repaired = np.zeros(grid.n_chunks, np.int64)
        self.outside_grid = 0
        self.no_location = dict.fromkeys(DEFECTS, 0)
        self.covering_misses = 0
        self.examples: dict[str, list[str]] = {}
        self.hashes: list[np.ndarray] = []  # per row group, only compared where usable
        self.usable: list[np.ndarray] = []

    def _chunk(self, fp: Footprints) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        row, col = self.grid.pixel_index(fp.owner_x, fp.owner_y)
        inside = (row >= 0) & (row < self.grid.shape[0]) & (col >= 0) & (col < self.grid.shape[1])
        return inside, row // self.grid.chunks[0], col // self.grid.chunks[1]

    def add(self, table: pa.Table) -> None:
        ids = table.column("id")
        bbox = bbox_arrays(table.column("bbox"))
        fp = classify(ids, table.column("geometry"), bbox)
        self.rows += table.num_rows
        located = np.isfinite(fp.owner_x) & np.isfinite(fp.owner_y)
        inside, crow, ccol = self._chunk(fp)
        inside &= located
        np.add.at(self.owned, (crow[inside], ccol[inside]), 1)
        for code, reason in enumerate(DEFECTS):
            hit = fp.defect == code
            np.add.at(self.defects[code], (crow[inside & hit], ccol[inside & hit]), 1)
            self.no_location[reason] += int(np.count_nonzero(hit & ~located))
            self._example(reason, ids, hit)
        np.add.at(self.repaired, (crow[inside & fp.repaired], ccol[inside & fp.repaired]), 1)
        self.outside_grid += int(np.count_nonzero(located & ~inside))
        misses = covering_misses(fp, bbox)
        self.covering_misses += int(misses.sum())
        self._example("covering", ids, misses)
        self.hashes.append(id_hashes(ids))
        self.usable.append(fp.defect < 0)

    def _example(self, what: str, ids: pa.ChunkedArray, rows: np.ndarray) -> None:
        found = self.examples.setdefault(what, [])
        for i in np.flatnonzero(rows)[: max(0, 3 - len(found))]:
            found.append(str(ids[int(i)].as_py()))

    def finish(self, again: Callable[[], Iterator[pa.Table]]) -> dict[str, Any]:
        duplicates, dup_regions = self._duplicates(again)
        regions: dict[str, Any] = {}
        for r, c in zip(*np.nonzero(self.owned), strict=True):
            dropped = {reason: int(self.defects[code, r, c]) for code, reason in enumerate(DEFECTS)}
            dropped[DUPLICATE] = dup_regions.get((int(r), int(c)), 0)
            regions[region_id(int(r), int(c))] = {
                "rows": int(self.owned[r, c]),
                "dropped": dropped,
                "repaired_invalid": int(self.repaired[r, c]),
            }
        return {
            "rows": self.rows,
            "outside_grid": self.outside_grid,
            "no_location": self.no_location,
            "covering_misses": self.covering_misses,
            "examples": self.examples,
            "regions": regions,
            "regions_without_data": sorted(set(regions) - self.data_regions),
            "duplicate_ids": duplicates,
        }

    def _duplicates(self, again: Callable[[], Iterator[pa.Table]]) -> tuple[dict[str, str], dict[tuple[int, int], int]]:
        """Second pass over the row groups holding a repeated id hash: exact ids, winners, drops."""
        usable = [h[u] for h, u in zip(self.hashes, self.usable, strict=True)]
        values, counts = np.unique(np.concatenate(usable) if usable else np.zeros(0, np.int64), return_counts=True)
        repeated = values[counts > 1]
        if not repeated.size:
            return {}, {}
        rows: dict[str, list[tuple[str, tuple[int, int]]]] = {}
        for table, group_hashes, group_usable in zip(again(), self.hashes, self.usable, strict=True):
            hit = np.flatnonzero(np.isin(group_hashes, repeated) & group_usable)
            if not hit.size:
                continue
            sub = table.take(pa.array(hit))
            fp = classify(sub.column("id"), sub.column("geometry"), bbox_arrays(sub.column("bbox")))
            inside, crow, ccol = self._chunk(fp)
            for j in range(sub.num_rows):
                chunk = (int(crow[j]), int(ccol[j])) if inside[j] else (-1, -1)
                rows.setdefault(sub.column("id")[j].as_py(), []).append(
                    (wkb_digest(sub.column("geometry")[j].as_py()), chunk)
                )
        winners, dropped = {}, {}
        for key, found in rows.items():
            if len(found) < 2:
                continue  # a hash collision, not a repeated id
            winners[key] = found[0][0]
            for _, chunk in found[1:]:
                dropped[chunk] = dropped.get(chunk, 0) + 1
        self.examples["duplicate_id"] = list(winners)[:3]
        return winners, dropped

    def problems(self, location: str, census: Mapping[str, Any], max_fraction: float) -> list[str]:
        where = f"inputs.buildings ({location})"
        out = []
        if self.rows == 0:
            out.append(f"{where}: the file holds no rows. Fix: point it at the buildings file")
        if self.covering_misses:
            out.append(
                f"{where}: for {self.covering_misses:,} rows the bbox covering does not contain the footprint's "
                f"centroid (e.g. ids {self.examples.get('covering')}); region jobs select rows by it and would "
                f"drop them. Fix: rewrite the covering from the geometries: {CONVERT_FIX}"
            )
        dropped = _dropped_totals(census)
        total = sum(dropped.values())
        if self.rows and total > max_fraction * self.rows:
            detail = ", ".join(f"{k} {v:,} (e.g. {self.examples.get(k)})" for k, v in dropped.items() if v)
            out.append(
                f"{where}: {total:,} of {self.rows:,} rows cannot be written ({detail}), more than "
                f"buildings.max_dropped_fraction = {max_fraction:g}. Fix: repair the file, or raise the "
                "limit to accept these drops"
            )
        return out


def _dropped_totals(census: Mapping[str, Any]) -> dict[str, int]:
    """Rows not written, by reason, over the whole file (located in regions or not located)."""
    totals = {reason: int(census["no_location"].get(reason, 0)) for reason in DROP_REASONS}
    for region in census["regions"].values():
        for reason, n in region["dropped"].items():
            totals[reason] += int(n)
    return totals


def id_hashes(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Python's hash of each id (int64): stable within the one process that compares them."""
    return np.fromiter((hash(v) for v in ids.to_pylist()), dtype=np.int64, count=len(ids))


def select_region(
    grid: RegionGrid, rid: str, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep points whose pixel lies in region ``rid``; return (mask, local rows, local cols)."""
    window = grid.region_window(rid)
    row, col = grid.pixel_index(x, y)
    mask = (row >= window.row_start) & (row < window.row_stop) & (col >= window.col_start) & (col < window.col_stop)
    return mask, row[mask] - window.row_start, col[mask] - window.col_start


def region_buildings(
    location: str,
    grid: RegionGrid,
    rid: str,
    arrays: Mapping[str, np.ndarray] | None,
    census: Mapping[str, Any] | None = None,
) -> pa.Table:
    """The building table of region ``rid`` with values sampled from region-shaped ``arrays``;
    its account of every owned row (written, dropped by reason) is in the schema metadata.

    ``arrays=None`` means the region holds no data (every value null).
    """
    ids, x, y, account = region_selection(location, grid, rid, census)
    _, rows, cols = select_region(grid, rid, x, y)
    if arrays is None:
        values = {name: np.full(len(ids), np.nan, np.float32) for name in VARIABLES}
    else:
        values = {name: np.asarray(arrays[name])[rows, cols] for name in VARIABLES}
    table = building_table(rid, ids, x, y, values)
    return table.replace_schema_metadata({ACCOUNT_KEY: json.dumps(account, sort_keys=True).encode()})


def region_account(schema: pa.Schema) -> dict[str, Any] | None:
    """The account a region file carries (None for files without one)."""
    raw = (schema.metadata or {}).get(ACCOUNT_KEY)
    return json.loads(raw) if raw else None


def write_region_buildings(
    settings: Settings,
    rid: str,
    sentinel_path: str | Path,
    target: str | Path,
    *,
    location: str,
    census: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Read the store at the sentinel's snapshot, sample the region's buildings from ``location``,
    write the file; return the region's account (rows written, dropped by reason)."""
    from windrisk import store

    sentinel = store.read_sentinel(sentinel_path)
    if sentinel["region_id"] != rid:
        raise ValueError(
            f"sentinel {sentinel_path} is for region {sentinel['region_id']}, not {rid}; delete it and re-run"
        )
    grid = settings.region_grid()
    with step("read store"):
        arrays = None if sentinel["all_nan"] else store.read_region(settings, grid, rid, sentinel["snapshot_id"])
    with step("buildings"):
        table = region_buildings(location, grid, rid, arrays, census)
        write_building_file(table, target, settings.buildings.row_group_size)
    return region_account(table.schema) or {}
