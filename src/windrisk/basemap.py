"""The offline basemap: bundled public-domain boundaries and places (windrisk.usatlas) → one
vector PMTiles, a gazetteer for the page's search, and the SDF glyphs its labels need.

Layers (lon/lat, zooms 0..``MAX_ZOOM``):

* ``land``: the nation; ``states``: name, stusps, geoid; ``counties`` (from zoom 4): name
  ("Sonoma County"), geoid ("06097"), state ("CA");
* ``labels``: points with name, kind (state|county|capital|town) and rank (1 = most important);
  each kind appears from its ``LABEL_MIN_ZOOM``, in the tiles themselves.

Everything is clipped to the run's area (the grid's lon/lat bounds plus ``MARGIN_DEG``), within
the conterminous US. freestiler sets a minimum zoom per layer, not per feature, so the zooms are
cut into bands at the label kinds' minimum zooms; each band is tiled alone with the labels shown
there, and the bands' archives (disjoint zooms) are merged tile by tile.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, zxy_to_tileid
from pmtiles.writer import Writer
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

from windrisk import usatlas
from windrisk.aoi import BBox, grid_lonlat_bounds
from windrisk.glyphs import write_fonts
from windrisk.grid import RegionGrid
from windrisk.io import atomic_path
from windrisk.vectortiles import header_fields, layer, write_layers

MAX_ZOOM = 10
COUNTY_MIN_ZOOM = 4
LABEL_MIN_ZOOM = {"state": 2, "capital": 3, "town": 6, "county": 7}
RANK = {"state": 1, "capital": 2, "county": 3, "town": 4}
MARGIN_DEG = 0.5
LABEL_TOLERANCE_DEG = 0.01  # polylabel precision, ~1 km
DIGITS = 5  # of the gazetteer's degrees: ~1 m


@dataclass(frozen=True)
class Label:
    """A place of the gazetteer and of the ``labels`` layer; ``bbox`` for areas only."""

    name: str  # as labelled: "Sonoma County", "Santa Rosa"
    stusps: str
    kind: str
    lon: float
    lat: float
    bbox: BBox | None = None

    @property
    def rank(self) -> int:
        return RANK[self.kind]

    @property
    def search_name(self) -> str:
        """As searched: "Sonoma County, CA", "Santa Rosa, CA", "California"."""
        return self.name if self.kind == "state" else f"{self.name}, {self.stusps}"


@dataclass(frozen=True)
class Basemap:
    """The clipped features: areas per layer, the land, the labels (most important first)."""

    bounds: BBox
    land: BaseGeometry
    states: tuple[usatlas.Area, ...]
    counties: tuple[usatlas.Area, ...]
    labels: tuple[Label, ...]


# ---- features -------------------------------------------------------------------------------
def run_bounds(grid: RegionGrid, margin_deg: float = MARGIN_DEG) -> BBox:
    """The grid's lon/lat bounds plus a margin, so the page shows some context around the data."""
    west, south, east, north = grid_lonlat_bounds(grid)
    # Rounded (~0.1 m) so the rule's params text does not change with pyproj's last digits.
    return (
        round(max(west - margin_deg, -180.0), 6),
        round(max(south - margin_deg, -90.0), 6),
        round(min(east + margin_deg, 180.0), 6),
        round(min(north + margin_deg, 90.0), 6),
    )


def conus_bounds() -> BBox:
    """The lon/lat box of the conterminous US (no part of Alaska, Hawaii or Puerto Rico is in it)."""
    west, south, east, north = shapely.total_bounds(
        [a.geometry for a in usatlas.states() if a.geoid in usatlas.CONUS_FIPS]
    ).tolist()
    return west, south, east, north


def area_bounds(bounds: BBox | None) -> BBox | None:
    """``bounds`` cut to the conterminous US's box (None: the whole box; None if they miss it)."""
    cw, cs, ce, cn = conus_bounds()
    if bounds is None:
        return cw, cs, ce, cn
    west, south, east, north = max(bounds[0], cw), max(bounds[1], cs), min(bounds[2], ce), min(bounds[3], cn)
    return (west, south, east, north) if west < east and south < north else None


def clip_polygons(geometry: BaseGeometry, bounds: BBox) -> BaseGeometry:
    """The polygonal part of ``geometry`` within ``bounds`` (slivers of lines or points left out)."""
    parts = shapely.get_parts(shapely.clip_by_rect(geometry, *bounds))
    return shapely.multipolygons(parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON])


def clipped(areas: Sequence[usatlas.Area], bounds: BBox) -> tuple[usatlas.Area, ...]:
    """CONUS areas cut to ``bounds``; those left empty are dropped."""
    out = []
    for area in areas:
        if area.geoid[:2] not in usatlas.CONUS_FIPS:
            continue
        geometry = clip_polygons(area.geometry, bounds)
        if geometry.area > 0:
            out.append(dataclasses.replace(area, geometry=geometry))
    return tuple(out)


def label_point(geometry: BaseGeometry) -> tuple[float, float]:
    """Where an area's name goes: the pole of inaccessibility of its largest part."""
    largest = max(shapely.get_parts(geometry), key=lambda part: part.area)
    point = polylabel(largest, tolerance=LABEL_TOLERANCE_DEG)
    return point.x, point.y


def area_label(area: usatlas.Area, kind: str) -> Label:
    lon, lat = label_point(area.geometry)
    return Label(area.name, area.stusps, kind, lon, lat, tuple(area.geometry.bounds))  # type: ignore[arg-type]


def inside(lon: float, lat: float, bounds: BBox) -> bool:
    west, south, east, north = bounds
    return west <= lon <= east and south <= lat <= north


def basemap_features(bounds: BBox) -> Basemap:
    """Every feature of the basemap within ``bounds``, which are within the conterminous US."""
    states = clipped(usatlas.states(), bounds)
    counties = clipped(usatlas.counties(), bounds)
    conus_usps = {usatlas.STATES[fips][0] for fips in usatlas.CONUS_FIPS}
    places = [
        Label(p.name, p.stusps, p.kind, p.lon, p.lat)
        for p in usatlas.places()
        if p.stusps in conus_usps and inside(p.lon, p.lat, bounds)
    ]
    # Larger areas first within their kind (MapLibre places a layer's labels in tile order, so
    # California wins over DC), then the places in usatlas's order; by kind is a stable sort.
    by_size = sorted([*states, *counties], key=lambda a: -a.geometry.area)
    labels = [area_label(a, "county" if len(a.geoid) == 5 else "state") for a in by_size] + places
    labels.sort(key=lambda label: label.rank)
    land = clip_polygons(usatlas.nation(), bounds)
    return Basemap(bounds, land, states, counties, tuple(labels))


def gazetteer(labels: Sequence[Label]) -> list[dict[str, Any]]:
    """The page's search index, in the labels' order (most important first)."""
    entries = []
    for label in labels:
        entry: dict[str, Any] = {"name": label.search_name, "kind": label.kind}
        entry.update(lon=round(label.lon, DIGITS), lat=round(label.lat, DIGITS))
        if label.bbox is not None:
            entry["bbox"] = [round(v, DIGITS) for v in label.bbox]
        entries.append(entry)
    return entries


# ---- tiling ---------------------------------------------------------------------------------
def zoom_bands(max_zoom: int = MAX_ZOOM) -> list[tuple[int, int]]:
    """Zoom ranges within which the set of label kinds shown does not change."""
    cuts = sorted({0, *(z for z in LABEL_MIN_ZOOM.values() if z <= max_zoom), max_zoom + 1})
    return [(lo, hi - 1) for lo, hi in itertools.pairwise(cuts)]


def band_layers(features: Basemap, zmin: int, zmax: int) -> list[dict[str, Any]]:
    """The layers of the zooms ``zmin``..``zmax``: labels of the kinds shown from ``zmin``."""
    layers = []
    if not features.land.is_empty:
        layers.append(layer("land", [features.land], {}, zmin, zmax))
    if features.states:
        props = {
            "name": [a.name for a in features.states],
            "stusps": [a.stusps for a in features.states],
            "geoid": [a.geoid for a in features.states],
        }
        layers.append(layer("states", [a.geometry for a in features.states], props, zmin, zmax))
    if features.counties and zmax >= COUNTY_MIN_ZOOM:
        props = {
            "name": [a.name for a in features.counties],
            "geoid": [a.geoid for a in features.counties],
            "state": [a.stusps for a in features.counties],
        }
        zlo = max(zmin, COUNTY_MIN_ZOOM)
        layers.append(layer("counties", [a.geometry for a in features.counties], props, zlo, zmax))
    shown = [label for label in features.labels if LABEL_MIN_ZOOM[label.kind] <= zmin]
    if shown:
        points = shapely.points([(label.lon, label.lat) for label in shown])
        props = {
            "name": [label.name for label in shown],
            "kind": [label.kind for label in shown],
            "rank": [label.rank for label in shown],
        }
        layers.append(layer("labels", list(points), props, zmin, zmax))
    return layers


def vector_layers(max_zoom: int = MAX_ZOOM) -> list[dict[str, Any]]:
    """TileJSON vector_layers: the contract's layers, fields and minimum zooms."""
    layers = {
        "land": ({}, 0),
        "states": ({"name": "String", "stusps": "String", "geoid": "String"}, 0),
        "counties": ({"name": "String", "geoid": "String", "state": "String"}, COUNTY_MIN_ZOOM),
        "labels": ({"name": "String", "kind": "String", "rank": "Number"}, min(LABEL_MIN_ZOOM.values())),
    }
    return [{"id": k, "fields": f, "minzoom": z, "maxzoom": max_zoom} for k, (f, z) in layers.items()]


def merge_bands(archives: Sequence[Path], bounds: BBox, target: Path) -> None:
    """Copy every tile of the band archives (disjoint zooms, gzipped MVT) into one archive; the
    whole basemap is a few MB, so the tiles are gathered in memory and written in id order."""
    tiles: dict[int, bytes] = {}
    for path in archives:
        with path.open("rb") as f:
            if Reader(MmapSource(f)).header()["tile_compression"] != Compression.GZIP:
                raise RuntimeError(
                    f"{path}: freestiler wrote tiles that are not gzipped; windrisk.basemap copies gzipped MVT"
                )
            tiles.update((zxy_to_tileid(*zxy), data) for zxy, data in all_tiles(MmapSource(f)))
    metadata = {
        "name": "basemap",
        "format": "pbf",
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "description": "Census 2017 boundaries, USGS capitals and FAA airport towns (public domain), windrisk",
        "vector_layers": vector_layers(),
    }
    with target.open("wb") as out:
        writer = Writer(out)
        for tile_id in sorted(tiles):
            writer.write_tile(tile_id, tiles[tile_id])
        writer.finalize(header_fields(bounds, 0, MAX_ZOOM), metadata)


def build_basemap(
    out_pmtiles: str | Path, out_gazetteer: str | Path, out_fonts: str | Path, bounds: BBox | None
) -> Basemap:
    """The basemap PMTiles, gazetteer JSON and glyph directory of the area ``bounds`` (lon/lat
    w, s, e, n; None for the conterminous US)."""
    if bounds is not None:
        west, south, east, north = bounds
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ValueError(f"basemap bounds {bounds}: need -180 <= west < east <= 180 and -90 <= south < north <= 90")
    area = area_bounds(bounds)
    features = basemap_features(area) if area is not None else None
    if features is None or not features.states:
        raise ValueError(f"basemap bounds {bounds} hold no part of the conterminous US; check the grid's transform")
    Path(out_pmtiles).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".basemap-", dir=Path(out_pmtiles).parent) as work:
        archives = []
        for zmin, zmax in zoom_bands():
            archives.append(Path(work, f"z{zmin}-{zmax}.pmtiles"))
            write_layers(band_layers(features, zmin, zmax), archives[-1], zmin, zmax)
        with atomic_path(out_pmtiles) as tmp:
            merge_bands(archives, features.bounds, tmp)
    with atomic_path(out_gazetteer) as tmp:  # compact: the page downloads it whole
        tmp.write_text(json.dumps(gazetteer(features.labels), separators=(",", ":")) + "\n")
    write_fonts(out_fonts)
    return features
