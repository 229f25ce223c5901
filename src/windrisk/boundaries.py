"""US Census cartographic boundary files (``inputs.boundaries``): states and counties.

The inputs are the Census Bureau's zipped shapefiles ``cb_2023_us_state_500k.zip`` and
``cb_2023_us_county_500k.zip`` (EPSG:4269, NAD83), from
https://www2.census.gov/geo/tiger/GENZ2023/shp/. They are read with pyogrio's Arrow reader
(no geopandas at run time), checked (the file, the columns, a geographic CRS) and reprojected
to EPSG:4326, the CRS of every windrisk output. The demo writes files of the same schema
(windrisk.demo).
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyogrio
import pyogrio.raw
import shapely
from pyproj import CRS, Transformer

from windrisk.inputs import InputError
from windrisk.io import atomic_path
from windrisk.settings import Settings

LONLAT: Final = "EPSG:4326"
CENSUS_CRS: Final = "EPSG:4269"
CENSUS_URL: Final = "https://www2.census.gov/geo/tiger/GENZ2023/shp/"
KINDS: Final = ("states", "counties")
FILE_NAMES: Final = {"states": "cb_2023_us_state_500k.zip", "counties": "cb_2023_us_county_500k.zip"}
COLUMNS: Final = {
    "states": ("STATEFP", "STATENS", "AFFGEOID", "GEOID", "STUSPS", "NAME", "LSAD", "ALAND", "AWATER"),
    "counties": (
        "STATEFP",
        "COUNTYFP",
        "COUNTYNS",
        "AFFGEOID",
        "GEOID",
        "NAME",
        "NAMELSAD",
        "STUSPS",
        "STATE_NAME",
        "LSAD",
        "ALAND",
        "AWATER",
    ),
}
TEXT_COLUMNS: Final = ("GEOID", "NAME", "NAMELSAD", "STUSPS", "STATE_NAME")


class BoundaryError(InputError):
    """A boundary file is missing or unusable; the message names its config key and the fix."""


@dataclass(frozen=True)
class Boundaries:
    """The areas of one file, sorted by GEOID: text attributes and (multi)polygons in EPSG:4326."""

    kind: str
    attributes: dict[str, list[str]]  # column (TEXT_COLUMNS present in the kind) → value per area
    geometry: np.ndarray  # shapely (multi)polygons, lon/lat

    def __len__(self) -> int:
        return len(self.geometry)

    @property
    def geoid(self) -> list[str]:
        return self.attributes["GEOID"]

    def label(self, i: int) -> str:
        """'Sonoma County, CA' for a county, 'California' for a state."""
        if self.kind == "counties":
            return f"{self.attributes['NAMELSAD'][i]}, {self.attributes['STUSPS'][i]}"
        return self.attributes["NAME"][i]


def _fix(kind: str) -> str:
    return f"download {FILE_NAMES[kind]} from {CENSUS_URL} and set inputs.boundaries.{kind} to its path or URL"


def configured_location(settings: Settings, kind: str) -> str:
    """Where ``inputs.boundaries.<kind>`` is; BoundaryError when the config does not say."""
    location = getattr(settings.inputs.boundaries, kind)
    if not location:
        raise BoundaryError(f"inputs.boundaries.{kind} is not set. Fix: {_fix(kind)}")
    return str(location)


def reproject(geometry: Any, src_crs: Any, dst_crs: Any) -> Any:
    """A shapely geometry, or an array of them, from ``src_crs`` to ``dst_crs`` (x = lon/easting)."""
    transformer = Transformer.from_crs(src_crs, dst_crs, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def read_boundaries(location: str, kind: str) -> Boundaries:
    """Read and check one Census boundary file (zipped shapefile) → Boundaries in EPSG:4326."""
    key = f"inputs.boundaries.{kind} ({location})"
    if "://" not in location and not Path(location).is_file():
        raise BoundaryError(f"{key}: the file does not exist. Fix: {_fix(kind)}")
    try:
        meta, table = pyogrio.raw.read_arrow(location)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise BoundaryError(
            f"{key}: not a readable shapefile ({str(exc).splitlines()[0]}). Fix: {_fix(kind)} (keep it zipped)"
        ) from None
    missing = [c for c in COLUMNS[kind] if c not in table.column_names]
    if missing:
        raise BoundaryError(
            f"{key}: lacks the column(s) {missing} of the Census {kind} file (has {table.column_names}). "
            f"Fix: {_fix(kind)}"
        )
    crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    if crs is None or not crs.is_geographic:
        raise BoundaryError(
            f"{key}: its CRS is {crs.name if crs else 'missing'}, not geographic (the Census files are "
            f"{CENSUS_CRS}, NAD83 lon/lat). Fix: {_fix(kind)}, or reproject yours to {CENSUS_CRS}"
        )
    geometry = shapely.from_wkb(np.asarray(table.column(meta["geometry_name"] or "wkb_geometry").to_pylist()))
    if not crs.equals(CRS.from_user_input(LONLAT)):
        geometry = reproject(geometry, crs, LONLAT)
    attributes = {c: [str(v) for v in table.column(c).to_pylist()] for c in TEXT_COLUMNS if c in COLUMNS[kind]}
    order = np.argsort(np.asarray(attributes["GEOID"]), kind="stable")
    return Boundaries(
        kind, {c: [values[i] for i in order] for c, values in attributes.items()}, np.asarray(geometry)[order]
    )


def boundary_problems(
    location: str, kind: str, grid_lonlat: tuple[float, float, float, float]
) -> tuple[list[str], dict]:
    """The check of rule ``check_inputs`` (group ``boundaries``): readable, the Census schema, and
    at least one area over the grid; a summary of the file for the check report."""
    try:
        areas = read_boundaries(location, kind)
    except BoundaryError as exc:
        return [str(exc)], {}
    if not shapely.intersects(areas.geometry, shapely.box(*grid_lonlat)).any():
        return [
            f"inputs.boundaries.{kind} ({location}): no area meets the grid ({grid_lonlat}, lon/lat). Fix: {_fix(kind)}"
        ], {}
    return [], {"areas": len(areas)}


def load_boundaries(settings: Settings, kind: str) -> Boundaries:
    """The configured boundaries of ``kind`` ('states' or 'counties'), checked, in EPSG:4326."""
    return read_boundaries(configured_location(settings, kind), kind)


# ---- writing (the demo's files, tests) ------------------------------------------------------
DBF_DATE: Final = bytes([123, 1, 1])  # 2023-01-01 (years since 1900, month, day)
ZIP_DATE: Final = (2023, 1, 1, 0, 0, 0)


def write_shapefile_zip(
    path: str | Path, stem: str, columns: dict[str, list[str] | list[int]], geometry: np.ndarray, crs: str
) -> None:
    """Areas → a zipped shapefile as the Census ships them (``stem``.shp/.shx/.dbf/.prj/.cpg in the
    zip's root), written atomically and byte for byte the same for the same areas: the date GDAL
    stamps into the .dbf header and the zip entries' dates are fixed."""
    fields = list(columns)
    field_data = [np.asarray(columns[f], dtype=np.int64 if _is_int(columns[f]) else object) for f in fields]
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp, f"{stem}.shp")
        pyogrio.raw.write(
            shp,
            shapely.to_wkb(geometry),
            field_data,
            fields,
            driver="ESRI Shapefile",
            geometry_type="Polygon",
            crs=crs,
            encoding="UTF-8",
        )
        dbf = Path(tmp, f"{stem}.dbf")
        dbf.write_bytes(dbf.read_bytes()[:1] + DBF_DATE + dbf.read_bytes()[4:])
        with atomic_path(path) as target, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(Path(tmp).iterdir()):
                info = zipfile.ZipInfo(part.name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, part.read_bytes())


def _is_int(values: list[str] | list[int]) -> bool:
    return bool(values) and all(isinstance(v, int) for v in values)
