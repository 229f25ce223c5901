"""CONUS404's hourly-archive conventions, and CONUS404-like synthetic stores for tests and benchmarks.

CONUS404 (WRF, 4 km, 1979-10 to 2022-10, ~377,000 hours) on its Lambert conformal grid: 1,015 × 1,367
pixels (``y`` south → north, ``x`` west → east, metres from the projection centre), variables
``T2``, ``TD2`` (K), ``U10``, ``V10`` (m/s, *grid-relative*: rotate with ``SINALPHA``/``COSALPHA``),
a CF grid-mapping variable ``crs`` (lambert_conformal_conic on a 6,370 km sphere), Zarr chunks of
144 hours × 175 × 175 pixels (HyTEST's ``chunk_plan``). ``fireweather.hourly_frame`` reads that CRS
and places the grid from the ``x``/``y`` pixel-centre coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import numpy as np

from windrisk.fireweather import HOURLY_VARIABLES as VARIABLES

CRS_CF: Final = {
    "grid_mapping_name": "lambert_conformal_conic",
    "standard_parallel": [30.0, 50.0],
    "longitude_of_central_meridian": -97.9,
    "latitude_of_projection_origin": 39.100006,
    "false_easting": 0.0,
    "false_northing": 0.0,
    "earth_radius": 6370000.0,
}
PIXEL_M: Final = 4000.0
SHAPE: Final = (1015, 1367)  # (y, x)
CHUNKS: Final = (144, 175, 175)  # (time, y, x)
HOURS: Final = 377_000  # 1979-10 to 2022-10, rounded
UNITS: Final = {"T2": "K", "TD2": "K", "U10": "m s-1", "V10": "m s-1"}
WRITE_BYTES: Final = 256 << 20


def pixel_centres(rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
    """x, y pixel centres (m) of a window of the CONUS404 grid; y ascends (south → north)."""
    x = (np.arange(SHAPE[1])[cols] - (SHAPE[1] - 1) / 2) * PIXEL_M
    y = (np.arange(SHAPE[0])[rows] - (SHAPE[0] - 1) / 2) * PIXEL_M
    return x, y


def lon_lat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre x, y (1-D, m) → lon, lat (2-D, degrees) on the CONUS404 sphere."""
    from pyproj import CRS, Transformer

    crs = CRS.from_cf(CRS_CF)
    xx, yy = np.meshgrid(x, y)
    lon, lat = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(xx, yy)
    return np.asarray(lon), np.asarray(lat)


def rotation(lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SINALPHA, COSALPHA (float32) of the Lambert grid: alpha = cone factor × (lon − central lon)."""
    p1, p2 = (math.radians(p) for p in CRS_CF["standard_parallel"])
    cone = math.log(math.cos(p1) / math.cos(p2)) / math.log(
        math.tan(math.pi / 4 + p2 / 2) / math.tan(math.pi / 4 + p1 / 2)
    )
    alpha = np.radians(cone * (lon - CRS_CF["longitude_of_central_meridian"]))
    return np.sin(alpha).astype(np.float32), np.cos(alpha).astype(np.float32)


def write_hourly_store(
    path: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    hours: int,
    fields: Callable[[int, int], dict[str, np.ndarray]],
    chunks: tuple[int, int, int] = CHUNKS,
    rotate: bool = True,
) -> None:
    """A CONUS404-like Zarr v3 store at ``path``: ``fields(h0, h1)`` gives T2, TD2, U10, V10
    (float32, (h1 - h0, y, x), winds grid-relative) for hours h0..h1, whole time chunks of about
    WRITE_BYTES at a time, so stores larger than memory can be written."""
    import dask.array as da
    import xarray as xr

    lon, _ = lon_lat(x, y)
    shape = (hours, y.size, x.size)
    lazy = {
        v: (
            ("time", "y", "x"),
            da.zeros(shape, dtype=np.float32, chunks=chunks),
            {"units": UNITS[v], "grid_mapping": "crs"},
        )
        for v in VARIABLES
    }
    static: dict[str, Any] = {"crs": ((), np.int32(0), CRS_CF)}
    if rotate:
        sin_a, cos_a = rotation(lon)
        static |= {"SINALPHA": (("y", "x"), sin_a), "COSALPHA": (("y", "x"), cos_a)}
    coords = {"time": np.arange(hours), "y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"})}
    encoding = {v: {"chunks": chunks, "_FillValue": np.float32(np.nan)} for v in VARIABLES}
    xr.Dataset({**lazy, **static}, coords=coords).to_zarr(
        path, zarr_format=3, consolidated=False, compute=False, encoding=encoding, mode="w"
    )
    per_write = chunks[0] * max(1, WRITE_BYTES // (chunks[0] * y.size * x.size * 4 * len(VARIABLES)))
    for h0 in range(0, hours, per_write):
        h1 = min(h0 + per_write, hours)
        data = fields(h0, h1)
        xr.Dataset({v: (("time", "y", "x"), data[v].astype(np.float32)) for v in VARIABLES}).to_zarr(
            path, region={"time": slice(h0, h1)}, consolidated=False
        )
