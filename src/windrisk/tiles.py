"""Step 4: the CONUS building GeoParquet → one PMTiles point layer, fast and in bounded memory.

The tiler is freestiler (Rust; ~10x less CPU than tippecanoe on points, measured in
benchmarks/bench_tiles.py), run on slim snappy GeoParquet copies (its reader has no zstd) holding
only the map's attributes. It keeps every feature at ``max_zoom`` and below thins uniformly
by a drop rate per zoom, which keeps a spatially even sample of the density pattern.

Bounded memory: freestiler holds its input in RAM, so the work is split.

* **High zooms** (``split_zoom``..``max_zoom``): points are grouped by their tile at
  ``split_zoom`` into partitions of ≤ ``max_partition_rows`` rows (whole tiles, in Hilbert
  order). Each partition is tiled alone; a tile at or above ``split_zoom`` is taken from the
  partition owning its ancestor tile, so no tile needs merging. (Buffer copies of points across a
  partition seam are lost, so a symbol may clip at those seams only.)
* **Low zooms** (``min_zoom``..``split_zoom - 1``): one run on the every-k-th-row sample of the
  Hilbert-sorted file, k = high_rate^(max_zoom - split_zoom + 1), i.e. exactly the density the
  high runs keep at ``split_zoom - 1``; a stride over a Hilbert order is a spatially stratified
  sample.

Drop rates: the high zooms thin by tippecanoe's default 2.5 per zoom, less when that would leave
fewer than ``MIN_POINTS`` at ``split_zoom - 1``; the low run thins its sample so that
``min_zoom`` still holds about ``MIN_POINTS`` (all of them if fewer): low zooms are never empty
and mid zooms are not overloaded.
The archives are merged tile by tile (already-compressed bytes are copied) into ``target``.
"""

from __future__ import annotations

import gzip
import heapq
import json
import math
import mmap
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pmtiles.tile import (
    Compression,
    deserialize_directory,
    deserialize_header,
    tileid_to_zxy,
    zxy_to_tileid,
)
from pmtiles.writer import Writer

from windrisk import vectortiles
from windrisk.buildings import crs_projjson, float64_values
from windrisk.io import atomic_path
from windrisk.settings import TilesSettings

SPLIT_ZOOM = 8
MAX_PARTITION_ROWS = 2_000_000
MIN_POINTS = 5_000
MAX_DROP_RATE = 2.5
BATCH_ROWS = 131_072
MAX_LAT = 85.05112878
ROUNDED = ("rps_2011", "rps_2047", "bp_2011", "bp_2047")
TILE_FIELDS = ("id", *ROUNDED, "score_2011", "score_2047")
SIGNIFICANT_DIGITS = 3
SLIM_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        *(pa.field(name, pa.float32()) for name in ROUNDED),
        pa.field("score_2011", pa.uint8()),
        pa.field("score_2047", pa.uint8()),
        pa.field("geometry", pa.binary()),
    ]
)


@dataclass(frozen=True)
class TilePlan:
    """How an input is split: zooms, drop rate, sample stride and tile → partition owners."""

    n_rows: int
    bounds: tuple[float, float, float, float]
    min_zoom: int
    max_zoom: int
    split_zoom: int
    high_rate: float | None  # zooms split_zoom..max_zoom
    low_rate: float | None  # zooms min_zoom..split_zoom - 1, over the sample
    stride: float
    owner: np.ndarray  # int32 per tile key at split_zoom, -1 where no points
    n_partitions: int


# ---- small pure helpers ---------------------------------------------------------------------
def drop_rate_for(n_rows: float, n_zooms: int, keep: int = MIN_POINTS) -> float | None:
    """Per-zoom rate leaving ~``keep`` of ``n_rows`` after ``n_zooms`` (≤ 2.5; None: keep all)."""
    if n_zooms <= 0 or n_rows <= keep:
        return None
    return min(MAX_DROP_RATE, (n_rows / keep) ** (1 / n_zooms))


def tile_xy(lon: np.ndarray, lat: np.ndarray, zoom: int) -> tuple[np.ndarray, np.ndarray]:
    """Web-Mercator tile column and row of points at ``zoom`` (XYZ, row 0 at the north)."""
    n = 1 << zoom
    lat_r = np.radians(np.clip(lat, -MAX_LAT, MAX_LAT))
    x = np.floor((np.asarray(lon) + 180.0) / 360.0 * n)
    y = np.floor((1.0 - np.log(np.tan(lat_r) + 1.0 / np.cos(lat_r)) / math.pi) / 2.0 * n)
    return np.clip(x, 0, n - 1).astype(np.int64), np.clip(y, 0, n - 1).astype(np.int64)


def round_significant(values: pa.Array | pa.ChunkedArray, digits: int = SIGNIFICANT_DIGITS) -> pa.Array:
    """Float32 values rounded to ``digits`` significant digits (nulls kept): smaller tiles."""
    arr = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(arr))))
        rounded = np.where(arr == 0, 0.0, np.round(arr * scale) / scale)
    return pa.array(rounded.astype(np.float32), pa.float32(), mask=np.isnan(arr))


def wkb_points(x: np.ndarray, y: np.ndarray) -> pa.BinaryArray:
    """Little-endian WKB points built in one numpy pass (21 bytes each)."""
    rec = np.empty(len(x), dtype=np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")]))
    rec["order"], rec["type"], rec["x"], rec["y"] = 1, 1, x, y
    offsets = np.arange(len(x) + 1, dtype=np.int32) * rec.dtype.itemsize
    return pa.BinaryArray.from_buffers(pa.binary(), len(x), [None, pa.py_buffer(offsets), pa.py_buffer(rec.tobytes())])


def xy_of(batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of a building batch's GeoArrow points."""
    geom = batch.column("geometry")
    return float64_values(geom.field("x")), float64_values(geom.field("y"))


def slim_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The map's attributes (rounded) and a WKB point, from a building batch."""
    x, y = xy_of(batch)
    cols = [batch.column("id")]
    cols += [round_significant(batch.column(n)) for n in ROUNDED]
    cols += [batch.column(n) for n in ("score_2011", "score_2047")]
    return pa.RecordBatch.from_arrays([*cols, wkb_points(x, y)], schema=SLIM_SCHEMA)


def slim_geo_schema() -> pa.Schema:
    """SLIM_SCHEMA with GeoParquet 1.1 WKB metadata (what freestiler reads)."""
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "crs": crs_projjson()}},
    }
    return SLIM_SCHEMA.with_metadata({b"geo": json.dumps(geo).encode()})


def sample_mask(start: int, n: int, stride: float) -> np.ndarray:
    """Every ``stride``-th row (fractional strides allowed) of rows ``start``..``start + n``."""
    i = np.arange(start, start + n, dtype=np.float64)
    return np.floor(i / stride) > np.floor((i - 1) / stride)


# ---- planning -------------------------------------------------------------------------------
def plan_tiles(
    path: str | Path, min_zoom: int, max_zoom: int, max_partition_rows: int = MAX_PARTITION_ROWS
) -> TilePlan:
    """Pass 1 over the geometry column: row count, bounds, and partitions of split-zoom tiles."""
    split = min(max(SPLIT_ZOOM, min_zoom), max_zoom + 1)
    key_zoom = min(split, max_zoom)
    counts = np.zeros(1 << (2 * key_zoom), dtype=np.int64)
    lo, hi = np.array([np.inf, np.inf]), np.array([-np.inf, -np.inf])
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=["geometry"]):
        x, y = xy_of(batch)
        if len(x) == 0:
            continue
        tx, ty = tile_xy(x, y, key_zoom)
        counts += np.bincount((tx << key_zoom) | ty, minlength=counts.size)
        lo, hi = np.minimum(lo, [x.min(), y.min()]), np.maximum(hi, [x.max(), y.max()])
    n = int(counts.sum())
    if n == 0:
        raise ValueError(
            f"{path} holds no buildings, so there is nothing to tile; check that regions ran with buildings"
        )
    owner = np.full(counts.size, -1, dtype=np.int32)
    keys = np.flatnonzero(counts)
    # Whole tiles in Hilbert (PMTiles id) order, packed greedily up to max_partition_rows.
    keys = sorted(keys, key=lambda k: zxy_to_tileid(key_zoom, int(k) >> key_zoom, int(k) & ((1 << key_zoom) - 1)))
    part, filled = 0, 0
    for k in keys:
        if filled and filled + counts[k] > max_partition_rows:
            part, filled = part + 1, 0
        owner[k] = part
        filled += int(counts[k])
    high_zooms = max_zoom - split + 1  # zooms of the high runs, 0 when there are none
    high_rate = drop_rate_for(n, high_zooms)
    stride = (high_rate or 1.0) ** high_zooms
    low_rate = drop_rate_for(n / stride, split - 1 - min_zoom)
    n_parts = part + 1 if high_zooms > 0 else 0
    bounds = (lo[0], lo[1], hi[0], hi[1])
    return TilePlan(n, bounds, min_zoom, max_zoom, split, high_rate, low_rate, stride, owner, n_parts)


def write_inputs(path: str | Path, plan: TilePlan, workdir: Path) -> tuple[Path | None, list[Path]]:
    """Pass 2: slim snappy inputs, the low-zoom sample and one file per partition."""
    schema = slim_geo_schema()
    low = workdir / "low.parquet" if plan.split_zoom > plan.min_zoom else None
    parts = [workdir / f"part{i:05d}.parquet" for i in range(plan.n_partitions)]
    writers = {i: pq.ParquetWriter(p, schema, compression="snappy") for i, p in enumerate(parts)}
    if low is not None:
        writers[-1] = pq.ParquetWriter(low, schema, compression="snappy")
    try:
        row = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=["geometry", *TILE_FIELDS]):
            slim = slim_batch(batch)
            if low is not None:
                writers[-1].write_batch(slim.filter(pa.array(sample_mask(row, slim.num_rows, plan.stride))))
            if parts:
                x, y = xy_of(batch)
                tx, ty = tile_xy(x, y, plan.split_zoom)
                owner = plan.owner[(tx << plan.split_zoom) | ty]
                for i in np.unique(owner):
                    writers[int(i)].write_batch(slim.filter(pa.array(owner == i)))
            row += slim.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return low, parts


# ---- tiling and merging ---------------------------------------------------------------------
def run_freestiler(src: Path, out: Path, layer: str, min_zoom: int, max_zoom: int, rate: float | None) -> None:
    """Tile one slim GeoParquet with freestiler; every feature kept at ``max_zoom``."""
    import freestiler

    freestiler.freestile_file(
        src,
        out,
        layer_name=layer,
        min_zoom=min_zoom,
        max_zoom=max_zoom,
        base_zoom=max_zoom,
        drop_rate=rate,
        quiet=True,
        engine="geoparquet",
        simplification=True,
    )


def archive_entries(buf: mmap.mmap) -> Iterator[tuple[int, int, int]]:
    """(tile id, absolute offset, length) of every tile in a PMTiles archive, in id order."""
    header = deserialize_header(buf[:127])

    def walk(offset: int, length: int) -> Iterator[tuple[int, int, int]]:
        for e in deserialize_directory(buf[offset : offset + length]):
            if e.run_length == 0:
                yield from walk(header["leaf_directory_offset"] + e.offset, e.length)
            for i in range(e.run_length):
                yield e.tile_id + i, header["tile_data_offset"] + e.offset, e.length

    yield from walk(header["root_offset"], header["root_length"])


def owned(entries: Iterator[tuple[int, int, int]], plan: TilePlan, part: int) -> Iterator[tuple[int, int, int]]:
    """Entries of partition ``part``'s archive whose split-zoom ancestor tile it owns."""
    s = plan.split_zoom
    for entry in entries:
        z, x, y = tileid_to_zxy(entry[0])
        if z >= s and plan.owner[((x >> (z - s)) << s) | (y >> (z - s))] == part:
            yield entry


def tagged(buf: mmap.mmap, index: int, plan: TilePlan, part: int) -> Iterator[tuple[int, int, int, int]]:
    """Entries to take from archive ``index`` (all for the low archive, ``part < 0``), tagged."""
    entries = archive_entries(buf)
    for tid, off, length in entries if part < 0 else owned(entries, plan, part):
        yield tid, off, length, index


def header_for(plan: TilePlan) -> dict[str, Any]:
    """PMTiles header fields the writer does not fill: type, compression, bounds, centre."""
    return vectortiles.header_fields(plan.bounds, plan.min_zoom, plan.max_zoom)


def metadata_for(plan: TilePlan, layer: str, source: mmap.mmap) -> dict[str, Any]:
    """TileJSON-style metadata: freestiler's vector_layers with the full zoom range."""
    header = deserialize_header(source[:127])
    raw = source[header["metadata_offset"] : header["metadata_offset"] + header["metadata_length"]]
    meta = json.loads(gzip.decompress(raw) if header["internal_compression"] == Compression.GZIP else raw)
    for vl in meta.get("vector_layers", []):
        vl.update(minzoom=plan.min_zoom, maxzoom=plan.max_zoom)
    meta.update(
        name=layer,
        format="pbf",
        minzoom=plan.min_zoom,
        maxzoom=plan.max_zoom,
        description="Wind-informed wildfire risk at building centroids (windrisk)",
        generator="freestiler 0.3.0 + windrisk.tiles merge",
        windrisk={
            "high_rate": plan.high_rate,
            "low_rate": plan.low_rate,
            "split_zoom": plan.split_zoom,
            "partitions": plan.n_partitions,
        },
    )
    return meta


def merge_archives(low: Path | None, parts: list[Path], plan: TilePlan, layer: str, target: Path) -> None:
    """Write the low-zoom tiles and each partition's owned tiles into one archive, in id order."""
    with ExitStack() as stack:  # closes the maps, then their files, also on errors
        files = [stack.enter_context(p.open("rb")) for p in ([low] if low else []) + parts]
        maps = [stack.enter_context(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)) for f in files]
        first_part = 1 if low else 0
        streams = [tagged(m, i, plan, i - first_part) for i, m in enumerate(maps)]
        with target.open("wb") as out:
            writer = Writer(out)
            for tid, off, ln, i in heapq.merge(*streams):
                writer.write_tile(tid, maps[i][off : off + ln])
            writer.finalize(header_for(plan), metadata_for(plan, layer, maps[0]))


def build_pmtiles(
    conus: str | Path,
    target: str | Path,
    tiles: TilesSettings,
    workdir: str | Path | None = None,
    max_partition_rows: int = MAX_PARTITION_ROWS,
) -> TilePlan:
    """CONUS building GeoParquet → PMTiles at ``target`` (layer and zooms from ``tiles``)."""
    layer, zmin, zmax = tiles.layer, tiles.min_zoom, tiles.max_zoom
    plan = plan_tiles(conus, zmin, zmax, max_partition_rows)
    tmp_root = Path(tempfile.mkdtemp(prefix=".pmtiles-work-", dir=workdir or Path(target).parent))
    try:
        low, parts = write_inputs(conus, plan, tmp_root)
        low_out = tmp_root / "low.pmtiles" if low else None
        if low and low_out:
            run_freestiler(low, low_out, layer, zmin, plan.split_zoom - 1, plan.low_rate)
        part_outs = []
        for src in parts:
            run_freestiler(src, src.with_suffix(".pmtiles"), layer, plan.split_zoom, zmax, plan.high_rate)
            src.unlink()  # free disk as we go
            part_outs.append(src.with_suffix(".pmtiles"))
        with atomic_path(target) as tmp:
            merge_archives(low_out, part_outs, plan, layer, tmp)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return plan
