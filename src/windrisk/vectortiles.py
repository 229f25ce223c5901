"""Vector-tile archives from shapely geometries (the basemap, the regional summaries), and the
PMTiles header every windrisk archive shares.

freestiler's public ``freestile()`` takes GeoDataFrames only, and geopandas is not a runtime
dependency; its engine takes the same layers as plain typed columns (freestiler 0.3), which is
what ``layer`` builds. Attribute types follow the values: strings, integers or floats, each
column of one type, ``None`` for a missing value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import shapely
from pmtiles.tile import Compression, TileType
from shapely.geometry.base import BaseGeometry

GEOMETRY_TYPES = {0: "POINT", 1: "LINESTRING", 3: "POLYGON", 4: "MULTIPOINT", 5: "MULTILINESTRING", 6: "MULTIPOLYGON"}


def _column_type(name: str, values: Sequence[Any]) -> str:
    present = [v for v in values if v is not None]
    if all(isinstance(v, str) for v in present):
        return "string"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "integer"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "double"
    raise TypeError(f"vector tile attribute {name!r} mixes types; give strings, integers or floats")


def layer(
    name: str,
    geometries: Sequence[BaseGeometry],
    columns: Mapping[str, Sequence[Any]],
    min_zoom: int,
    max_zoom: int,
) -> dict[str, Any]:
    """One layer as freestiler's engine takes it: WKB, geometry type names, typed columns."""
    geometries = shapely.force_2d(list(geometries))
    typed: dict[str, list[tuple[str, list[Any]]]] = {"string": [], "integer": [], "double": []}
    for column, values in columns.items():
        kind = _column_type(column, values)
        convert = {"string": str, "integer": int, "double": float}[kind]
        typed[kind].append((column, [None if v is None else convert(v) for v in values]))
    ordered = [(kind, column, values) for kind, cols in typed.items() for column, values in cols]
    return {
        "name": name,
        "wkb": [bytes(shapely.to_wkb(g)) for g in geometries],
        "geom_types": [GEOMETRY_TYPES[int(t)] for t in shapely.get_type_id(geometries)],
        "prop_names": [column for _, column, _ in ordered],
        "prop_types": [kind for kind, _, _ in ordered],
        "string_columns": [values for _, values in typed["string"]],
        "int_columns": [values for _, values in typed["integer"]],
        "float_columns": [values for _, values in typed["double"]],
        "bool_columns": [],
        "min_zoom": min_zoom,
        "max_zoom": max_zoom,
    }


def write_layers(layers: Sequence[dict[str, Any]], out: str | Path, min_zoom: int, max_zoom: int) -> None:
    """Tile ``layers`` (from ``layer``) into the PMTiles ``out``: gzipped MVT, simplified per zoom."""
    from freestiler._freestiler import _freestile

    _freestile(
        layers=list(layers),
        output_path=str(out),
        tile_format="mvt",
        min_zoom=min_zoom,
        max_zoom=max_zoom,
        base_zoom=-1,
        do_simplify=True,
        generate_ids=True,
        quiet=True,
        drop_rate=-1.0,
        cluster_distance=-1.0,
        cluster_maxzoom=-1,
        do_coalesce=False,
    )


def header_fields(bounds: tuple[float, float, float, float], min_zoom: int, max_zoom: int) -> dict[str, Any]:
    """PMTiles header fields the writer does not fill for gzipped MVT: type, compression, lon/lat
    bounds (w, s, e, n) and centre."""
    west, south, east, north = bounds
    return {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_lon_e7": math.floor(west * 1e7),
        "min_lat_e7": math.floor(south * 1e7),
        "max_lon_e7": math.ceil(east * 1e7),
        "max_lat_e7": math.ceil(north * 1e7),
        "center_zoom": max(min_zoom, min(max_zoom, 6)),
        "center_lon_e7": round((west + east) / 2 * 1e7),
        "center_lat_e7": round((south + north) / 2 * 1e7),
    }
