"""Synthetic demo inputs in the formats of the real products, deterministic from ``demo.seed``.

The same seed gives byte-identical files. Geography: the western column of regions (``x0``) is
ocean (nodata / NaN in every input); a wiggly north-south coastline crosses column ``x1`` in
every row; land lies east of it. The grid must be geographic (EPSG:4326, like the demo config).

Files, under ``demo.dir`` (``demo_outputs``; the demo config's ``inputs`` point there):

* ``burn_probability/2011``, ``/2047`` (Riley et al. 2025 style): GeoTIFF, EPSG:5070, 270 m
  pixels, north-up (``e < 0``), float32, tiled 256 x 256, DEFLATE, nodata tag
  ``-3.4028234663852886e+38`` (float32 lowest, as many USFS float rasters) over the ocean.
  Annual BP 1e-4..5e-2 with smooth structure; 0 on non-burnable land, ~25-45 % of the land of
  each region (more in the south): fields (rectangles), towns (blobs, some straddling region
  corners), lakes (discs) and roads (4-connected lines one pixel wide), and 0 at isolated pixels
  whose 4 neighbours are positive (to exercise the gap fill); 2047 >= 1.15 x 2011.
  The raster covers the grid plus ``grid.buffer_px`` pixels plus 5 km on every side.
* ``crps`` and ``rps`` (Scott et al. 2024 style): same CRS and extent, 30 m pixels aligned with
  the 270 m ones (9 x 9 per BP pixel), same nodata tag. CRPS in % (0..100);
  RPS = BP_2011 (at 30 m, by repetition) x CRPS, nodata where either is.
* ``wind.hourly`` (CONUS404 style): a Zarr v3 store (directory) written by xarray,
  ``consolidated=False``. Variables ``T2``, ``TD2`` (K), ``U10``, ``V10`` (m/s, earth-relative:
  ``U10`` towards east, ``V10`` towards north), float32, dims ``(time, y, x)``, chunks
  ``(all hours, 32, 32)``, NaN fill; ``SINALPHA`` = 0 and ``COSALPHA`` = 1 with dims ``(y, x)``.
  Coords: ``time`` (datetime64, hourly, UTC, from 2020-08-01T00), ``y`` latitude of pixel
  centres *descending* (north-up), ``x`` longitude of pixel centres ascending, both float64,
  0.02 deg spacing. ``spatial_ref`` (int scalar) carries ``crs_wkt`` (EPSG:4326) and
  ``GeoTransform`` (GDAL order ``"x_left dx 0 y_top 0 -dy"``, pixel edges); every field has
  ``grid_mapping = "spatial_ref"``. NaN over open ocean at every hour, and whole hours NaN
  (missing data). Contents: a diurnal cycle with a light westerly sea breeze, and a few hot, dry,
  windy episodes blowing *from* a direction that turns with latitude (NNE in the south to ESE in
  the north). A coarse pixel edge lies exactly on the x0/x1 region boundary.
* ``buildings`` (Overture style): GeoParquet 1.1, zstd, row groups of 5,000 sorted along a
  Hilbert curve. Columns ``id`` (32 hex chars), ``geometry`` (WKB polygons, EPSG:4326, rotated
  rectangles 10-30 m), ``bbox`` struct ``{xmin, ymin, xmax, ymax}`` in **float64** (Overture
  uses float32; readers must only use it for coarse filtering). ``geo`` metadata names the
  bbox covering. Buildings cluster in towns on land; a few sit on the coastline; some have
  centroids exactly on region edges and corners (and on the grid's outer edges); a few lie
  outside the grid.
* ``states`` and ``counties`` (US Census cartographic boundary style): zipped shapefiles in the
  schema of ``cb_2023_us_state_500k.zip`` / ``cb_2023_us_county_500k.zip`` (EPSG:4269), holding
  the states and counties that intersect the grid. The shapes and names are the real Census
  boundaries bundled at 1:10 M (windrisk.usatlas, 2017), so they are coarser than the 1:500 k
  files and the demo's synthetic coastline does not follow them. Derived, not copied: ``ALAND``
  is the area in EPSG:5070 (m², water included) and ``AWATER`` 0; ``STATENS``/``COUNTYNS`` are
  ``"00000000"`` (the bundled data has no GNIS codes); ``AFFGEOID`` is built from the GEOID
  (``"0500000US06097"``); ``LSAD`` from the name's suffix (County 06, Parish 15, city 25, else 00;
  states 00).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from scipy import ndimage

from windrisk import usatlas
from windrisk.boundaries import CENSUS_CRS, reproject, write_shapefile_zip
from windrisk.buildings import HILBERT_LEVEL, _hilbert_encode
from windrisk.grid import RegionGrid
from windrisk.io import atomic_path
from windrisk.paths import DEMO_LAYOUT, demo_outputs
from windrisk.settings import Settings

log = logging.getLogger(__name__)

NODATA = -3.4028234663852886e38  # float32 lowest; the nodata tag of every demo GeoTIFF
ALBERS = "EPSG:5070"
BP_PIXEL_M = 270.0
CRPS_PER_BP = 9  # 30 m pixels per 270 m pixel along each axis
MARGIN_M = 5_000.0  # extra cover beyond the region buffer
WIND_STEP_DEG = 0.02
WIND_MARGIN_DEG = 0.1
WIND_CHUNK = 32
ROW_GROUP_ROWS = 5_000
OUTPUT_KEYS = tuple(DEMO_LAYOUT)


# ---- geography ------------------------------------------------------------------------------
class Coast:
    """The demo coastline: land is east of ``lon(lat)``, which stays inside region column x1."""

    def __init__(self, grid: RegionGrid):
        _, bottom, _, top = grid.window_bounds(grid.full_window)
        self.x_b, _ = grid.transform @ (grid.chunks[1], 0)  # x0/x1 boundary
        x_b2, _ = grid.transform @ (min(2 * grid.chunks[1], grid.shape[1]), 0)
        self.width = x_b2 - self.x_b
        self.bottom, self.height = bottom, top - bottom

    def lon(self, lat: np.ndarray) -> np.ndarray:
        """Coast longitude at each latitude: 15%..75% of the way across column x1."""
        t = (np.asarray(lat, dtype=np.float64) - self.bottom) / self.height
        wiggle = 0.2 * np.sin(2 * np.pi * 1.7 * t) + 0.08 * np.sin(2 * np.pi * 5.3 * t + 1.0)
        return self.x_b + self.width * (0.45 + wiggle)

    def is_land(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """True where (lon, lat) lies on or east of the coastline."""
        return np.asarray(lon) >= self.lon(lat)


def _smooth(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Gaussian-filtered noise scaled to 0..1 (float64)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="reflect")
    return (field - field.min()) / (field.max() - field.min())


def albers_land(coast: Coast, transform: Affine, shape: tuple[int, int]) -> np.ndarray:
    """Land mask of a north-up EPSG:5070 raster: pixel centres east of the projected coastline.

    The coast runs north-south, so in Albers it is a curve x = g(y), sampled densely (~10 m)
    and interpolated per row; much cheaper than projecting every 30 m pixel.
    """
    y = transform.f + (np.arange(shape[0]) + 0.5) * transform.e
    x = transform.c + (np.arange(shape[1]) + 0.5) * transform.a
    to_lonlat = Transformer.from_crs(ALBERS, "EPSG:4326", always_xy=True)
    _, lat_lo = to_lonlat.transform(x.mean(), y.min())
    _, lat_hi = to_lonlat.transform(x.mean(), y.max())
    lat = np.linspace(lat_lo - 0.05, lat_hi + 0.05, 20_000)
    coast_x, coast_y = Transformer.from_crs("EPSG:4326", ALBERS, always_xy=True).transform(coast.lon(lat), lat)
    order = np.argsort(coast_y)
    return x[None, :] >= np.interp(y, coast_y[order], coast_x[order])[:, None]


# ---- non-burnable land ---------------------------------------------------------------------
# Real Riley BP is 0 on farmland, towns, water, barren land and roads: a quarter to a half of the
# land, more in some places than others. Pixels here are the 270 m BP pixels (row, col).
SHARE_RANGE = (0.2, 0.5)  # local target share; with towns, lakes, roads ~25-45 % per region
SHARE_WINDOW_PX = 15  # half size of the window a field's local share is measured over (~4 km)
FIELD_SIDE_PX = (3, 11)  # field rectangles of 9..121 pixels
FIELD_CANDIDATES = 3_000  # enough to fill every neighbourhood up to its target
TOWN_RADIUS_PX = (4.0, 9.0)
LAKE_RADIUS_PX = (1.0, 4.5)


def _near(shape: tuple[int, int], centre: tuple[float, float], reach: float) -> tuple[tuple[slice, slice], np.ndarray]:
    """Slices of the pixels within ``reach`` of ``centre`` (clipped), their centres' distances."""
    r0, r1 = max(int(centre[0] - reach), 0), min(int(centre[0] + reach) + 2, shape[0])
    c0, c1 = max(int(centre[1] - reach), 0), min(int(centre[1] + reach) + 2, shape[1])
    rr, cc = np.ogrid[r0:r1, c0:c1]
    return (slice(r0, r1), slice(c0, c1)), np.hypot(rr + 0.5 - centre[0], cc + 0.5 - centre[1])


def add_blob(mask: np.ndarray, centre: tuple[float, float], radius: float, noise: np.ndarray | None = None) -> None:
    """Set a disc (lake) or, with ``noise`` of mask's shape, an irregular blob (town)."""
    box, dist = _near(mask.shape, centre, 1.5 * radius)
    edge = radius
    if noise is not None:  # standardised locally: smooth noise varies little over one town
        local = noise[box]
        edge = radius * (1.0 + 0.4 * (local - local.mean()) / local.std())
    mask[box] |= dist <= edge


def add_road(mask: np.ndarray, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Set a 1-pixel line from ``start`` to ``end``, clipped to mask.

    4-connected (a diagonal step gets its corner pixel too), so every road pixel has a zero
    neighbour and the gap fill never repairs a road.
    """
    n = int(max(abs(end[0] - start[0]), abs(end[1] - start[1]))) + 2
    rows = np.floor(np.linspace(start[0], end[0], n)).astype(np.int64)
    cols = np.floor(np.linspace(start[1], end[1], n)).astype(np.int64)
    rows, cols = np.concatenate([rows, rows[:-1]]), np.concatenate([cols, cols[1:]])
    ok = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
    mask[rows[ok], cols[ok]] = True


def share_target(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Target share of non-burnable land per pixel: more farmland to the south, plus noise."""
    south = np.linspace(0.0, 1.0, shape[0])[:, None]  # row 0 is north
    low, high = SHARE_RANGE
    return low + (high - low) * (0.6 * south + 0.4 * _smooth(rng, shape, 20.0))


def add_fields(rng: np.random.Generator, mask: np.ndarray, land: np.ndarray, target: np.ndarray) -> None:
    """Add rectangles at random land pixels while their neighbourhood stays within ``target``."""
    h, n = SHARE_WINDOW_PX, FIELD_CANDIDATES
    rows, cols = rng.integers(0, mask.shape[0], n), rng.integers(0, mask.shape[1], n)
    sides = rng.integers(FIELD_SIDE_PX[0], FIELD_SIDE_PX[1] + 1, (n, 2))
    for r, c, (dr, dc) in zip(rows, cols, sides, strict=True):
        if not land[r, c]:
            continue
        win = slice(max(r - h, 0), r + h + 1), slice(max(c - h, 0), c + h + 1)
        local_land = land[win]
        # Counting the whole field keeps the share at or below target: no overshoot per field.
        zeros = np.count_nonzero(mask[win] & local_land) + dr * dc
        if zeros <= target[r, c] * np.count_nonzero(local_land):
            mask[r - dr // 2 : r + dr - dr // 2, c - dc // 2 : c + dc - dc // 2] = True


def non_burnable(rng: np.random.Generator, land: np.ndarray, town_centres: np.ndarray) -> np.ndarray:
    """Mask of BP = 0 on a land mask: towns (blobs, at ``town_centres`` (n, 2) and at random),
    lakes (discs), roads linking the towns and crossing the raster, then fields.
    """
    shape = land.shape
    mask = np.zeros(shape, dtype=bool)
    land_px = np.argwhere(land) + 0.5
    towns = np.concatenate([np.reshape(town_centres, (-1, 2)), land_px[rng.choice(len(land_px), 6)]])
    noise = _smooth(rng, shape, 2.0)
    for centre in towns:
        add_blob(mask, tuple(centre), rng.uniform(*TOWN_RADIUS_PX), noise)
    for centre in land_px[rng.choice(len(land_px), 10)]:
        add_blob(mask, tuple(centre), rng.uniform(*LAKE_RADIUS_PX))
    for a, b in itertools.pairwise(towns):
        add_road(mask, tuple(a), tuple(b))
    reach = float(np.hypot(*shape))  # highways run from edge to edge
    for centre, angle in zip(land_px[rng.choice(len(land_px), 3)], rng.uniform(0, np.pi, 3), strict=True):
        step = reach * np.array([np.sin(angle), np.cos(angle)])
        add_road(mask, tuple(centre - step), tuple(centre + step))
    add_fields(rng, mask, land, share_target(rng, shape))
    return mask


def region_corners_px(grid: RegionGrid, transform: Affine) -> np.ndarray:
    """(row, col) in the EPSG:5070 raster of ``transform`` of the region corners between land
    regions (columns x2 and beyond), where the buildings' towns are too.
    """
    corners = [
        grid.transform @ (c * grid.chunks[1], r * grid.chunks[0])
        for r in range(1, grid.n_chunks[0])
        for c in range(2, grid.n_chunks[1])
    ]
    if not corners:
        return np.empty((0, 2))
    x, y = Transformer.from_crs(grid.crs, ALBERS, always_xy=True).transform(*np.transpose(corners))
    col, row = ~transform @ (np.asarray(x), np.asarray(y))
    return np.column_stack([row, col])


# ---- rasters --------------------------------------------------------------------------------
def albers_frame(grid: RegionGrid, buffer_px: int) -> tuple[Affine, tuple[int, int]]:
    """270 m north-up EPSG:5070 transform and shape covering the grid + buffer + margin."""
    to_albers = Transformer.from_crs(grid.crs, ALBERS, always_xy=True)
    xmin, ymin, xmax, ymax = to_albers.transform_bounds(*grid.window_bounds(grid.full_window), densify_pts=64)
    dy_m, dx_m = grid.pixel_size_m(grid.all_region_ids[0])
    pad = buffer_px * max(dy_m, dx_m) + MARGIN_M
    step = BP_PIXEL_M
    x0, x1 = math.floor((xmin - pad) / step) * step, math.ceil((xmax + pad) / step) * step
    y0, y1 = math.floor((ymin - pad) / step) * step, math.ceil((ymax + pad) / step) * step
    shape = (round((y1 - y0) / step), round((x1 - x0) / step))
    return Affine(step, 0.0, x0, 0.0, -step, y1), shape


def burn_probability(
    rng: np.random.Generator, land: np.ndarray, town_centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """BP 2011 and 2047 (float32, NaN on the ocean), 0 on non-burnable land and isolated pixels."""
    shape = land.shape
    bp11 = 10.0 ** (-4.0 + 2.7 * _smooth(rng, shape, 6.0))
    bp11[non_burnable(rng, land, town_centres)] = 0.0
    positive = (bp11 > 0) & land
    neighbours_positive = ndimage.minimum_filter(
        positive.astype(np.uint8),
        footprint=ndimage.generate_binary_structure(2, 1),
        mode="constant",
    ).astype(bool)
    # Only even-even pixels, so no two isolated zeros touch; each keeps 4 positive neighbours.
    even = np.zeros(shape, dtype=bool)
    even[::2, ::2] = True
    isolated = neighbours_positive & even & (rng.random(shape) < 0.02)
    bp11[isolated] = 0.0
    bp47 = np.minimum(bp11 * (1.15 + 0.5 * _smooth(rng, shape, 8.0)), 0.08)
    bp11[~land] = np.nan
    bp47[~land] = np.nan
    return bp11.astype(np.float32), bp47.astype(np.float32)


def crps_field(rng: np.random.Generator, land_30m: np.ndarray, coarse_shape: tuple[int, int]) -> np.ndarray:
    """CRPS in % (0..100): smooth at 270 m, interpolated to 30 m, plus fine noise."""
    coarse = 15.0 + 60.0 * _smooth(rng, coarse_shape, 5.0)
    fine = ndimage.zoom(coarse, CRPS_PER_BP, order=1, mode="nearest", grid_mode=True)
    fine = np.clip(fine + rng.normal(0.0, 5.0, fine.shape), 0.0, 100.0)
    fine[~land_30m] = np.nan
    return fine.astype(np.float32)


def write_geotiff(
    path: str | Path, data: np.ndarray, transform: Affine, description: str, nodata: float = NODATA
) -> None:
    """Float32 GeoTIFF in EPSG:5070, NaN written as ``nodata`` (the demo tag), written atomically."""
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "height": data.shape[0],
        "width": data.shape[1],
        "crs": ALBERS,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3,
        "zlevel": 1,
        "interleave": "band",
    }
    filled = np.where(np.isnan(data), np.float32(nodata), data).astype(np.float32)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(filled, 1)
        dst.update_tags(description=description, source="windrisk demo (synthetic)")


def write_rasters(
    rng: np.random.Generator,
    grid: RegionGrid,
    buffer_px: int,
    coast: Coast,
    paths: Mapping[str, str],
) -> None:
    """The four GeoTIFFs: BP 2011/2047 (270 m), CRPS and RPS (30 m)."""
    transform, shape = albers_frame(grid, buffer_px)
    land = albers_land(coast, transform, shape)
    # Towns on region corners: zero patches cross region edges, buildings sit in them.
    bp11, bp47 = burn_probability(rng, land, region_corners_px(grid, transform))
    write_geotiff(paths["bp_2011"], bp11, transform, "annual burn probability, 2011 climate run")
    write_geotiff(paths["bp_2047"], bp47, transform, "annual burn probability, 2047 climate run")
    fine_transform = transform @ Affine.scale(1 / CRPS_PER_BP)
    fine_shape = (shape[0] * CRPS_PER_BP, shape[1] * CRPS_PER_BP)
    crps = crps_field(rng, albers_land(coast, fine_transform, fine_shape), shape)
    bp_fine = np.repeat(np.repeat(bp11, CRPS_PER_BP, axis=0), CRPS_PER_BP, axis=1)
    write_geotiff(paths["crps"], crps, fine_transform, "conditional risk to potential structures (%)")
    write_geotiff(paths["rps"], bp_fine * crps, fine_transform, "risk to potential structures (%)")


# ---- hourly surface fields ------------------------------------------------------------------
def wind_frame(grid: RegionGrid, coast: Coast) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-edge lon (ascending) and lat (descending) of the coarse grid; an edge at x0/x1."""
    left, bottom, right, top = grid.window_bounds(grid.full_window)
    k0 = math.ceil((coast.x_b - (left - WIND_MARGIN_DEG)) / WIND_STEP_DEG)
    k1 = math.ceil((right + WIND_MARGIN_DEG - coast.x_b) / WIND_STEP_DEG)
    x_edges = coast.x_b + WIND_STEP_DEG * np.arange(-k0, k1 + 1)
    n_y = math.ceil((top - bottom + 2 * WIND_MARGIN_DEG) / WIND_STEP_DEG)
    y_edges = top + WIND_MARGIN_DEG - WIND_STEP_DEG * np.arange(n_y + 1)
    return x_edges, y_edges


def hourly_fields(
    rng: np.random.Generator, lon: np.ndarray, lat: np.ndarray, hours: int, ocean: np.ndarray
) -> dict[str, np.ndarray]:
    """T2, TD2 (K), U10, V10 (m/s), dims (time, y, x): diurnal cycle plus fire-weather episodes."""
    shape = (hours, *lon.shape)
    local_h = (np.arange(hours) - 8) % 24  # UTC-8
    diurnal = np.sin(2 * np.pi * (local_h - 9) / 24)[:, None, None]
    inland = ((lon - lon.min()) / np.ptp(lon))[None]
    t2 = 289.0 + 4.0 * inland + 7.0 * diurnal + rng.normal(0.0, 0.8, shape)
    depression = 6.0 + 4.0 * diurnal + 3.0 * inland + rng.gamma(2.0, 0.7, shape)
    speed = 3.0 + 1.5 * diurnal + rng.gamma(2.0, 0.6, shape)
    direction = 280.0 + rng.normal(0.0, 25.0, shape)  # sea breeze from W-NW
    north = ((lat - lat.min()) / np.ptp(lat))[None]
    prevailing = 20.0 + 90.0 * north + 15.0 * inland  # NNE in the south to ESE in the north
    n_episodes = 3 if hours >= 72 else 1
    length = max(1, min(36, hours // 10))
    for k, start in enumerate(np.sort(rng.choice(max(hours - length, 1), n_episodes, replace=False))):
        sl = slice(int(start), int(start) + length)
        t2[sl] += 9.0
        depression[sl] = 22.0 + rng.gamma(2.0, 1.5, depression[sl].shape)
        speed[sl] = 11.0 + 4.0 * rng.random(speed[sl].shape)
        direction[sl] = prevailing + (k - 1) * 15.0 + rng.normal(0.0, 8.0, direction[sl].shape)
    theta = np.radians(direction)
    fields = {
        "T2": t2,
        "TD2": t2 - depression,
        "U10": -speed * np.sin(theta),
        "V10": -speed * np.cos(theta),
    }
    missing = rng.choice(hours, max(1, hours // 100), replace=False)
    for name, arr in fields.items():
        arr[:, ocean] = np.nan
        arr[missing] = np.nan
        fields[name] = arr.astype(np.float32)
    return fields


def write_hourly(rng: np.random.Generator, grid: RegionGrid, coast: Coast, hours: int, path: str | Path) -> None:
    """The CONUS404-style Zarr v3 store (see the module docstring for the format)."""
    import xarray as xr

    x_edges, y_edges = wind_frame(grid, coast)
    x = (x_edges[:-1] + x_edges[1:]) / 2
    y = (y_edges[:-1] + y_edges[1:]) / 2
    lon, lat = np.meshgrid(x, y)
    ocean = x_edges[1:][None, :] <= coast.lon(y)[:, None]  # the whole coarse pixel is sea
    fields = hourly_fields(rng, lon, lat, hours, ocean)
    time = np.datetime64("2020-08-01T00", "ns") + np.arange(hours) * np.timedelta64(1, "h")
    units = {"T2": "K", "TD2": "K", "U10": "m s-1", "V10": "m s-1"}
    names = {
        "T2": "2 m temperature",
        "TD2": "2 m dew point temperature",
        "U10": "10 m eastward wind",
        "V10": "10 m northward wind",
    }
    data_vars: dict[str, Any] = {
        k: (
            ("time", "y", "x"),
            v,
            {"units": units[k], "long_name": names[k], "grid_mapping": "spatial_ref"},
        )
        for k, v in fields.items()
    }
    for name, value in (("SINALPHA", 0.0), ("COSALPHA", 1.0)):
        data_vars[name] = (
            ("y", "x"),
            np.full(lon.shape, value, np.float32),
            {
                "long_name": f"{name.lower()} of grid rotation (earth-relative winds)",
                "grid_mapping": "spatial_ref",
            },
        )
    geo = " ".join(repr(float(v)) for v in (x_edges[0], WIND_STEP_DEG, 0.0, y_edges[0], 0.0, -WIND_STEP_DEG))
    wkt = CRS.from_epsg(4326).to_wkt()
    data_vars["spatial_ref"] = (
        (),
        np.int32(0),
        {
            "crs_wkt": wkt,
            "spatial_ref": wkt,
            "grid_mapping_name": "latitude_longitude",
            "GeoTransform": geo,
        },
    )
    ds = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", time),
            "y": ("y", y, {"units": "degrees_north", "standard_name": "latitude"}),
            "x": ("x", x, {"units": "degrees_east", "standard_name": "longitude"}),
        },
        attrs={"title": "windrisk demo hourly surface fields (synthetic, CONUS404 style)"},
    )
    chunks = (hours, WIND_CHUNK, WIND_CHUNK)
    encoding: dict[str, dict[str, Any]] = {k: {"chunks": chunks, "_FillValue": np.float32(np.nan)} for k in fields}
    encoding["time"] = {
        "units": "hours since 2020-08-01T00:00:00",
        "calendar": "proleptic_gregorian",
        "dtype": "int64",
    }
    with atomic_path(path, suffix=".zarr") as tmp:
        ds.to_zarr(tmp, zarr_format=3, consolidated=False, encoding=encoding)


# ---- buildings ------------------------------------------------------------------------------
def _box(cx: np.ndarray, cy: np.ndarray, half_m: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rectangles (n, 5, 2) in lon/lat centred on (cx, cy), half sizes (n, 2) in metres, rotated."""
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], dtype=np.float64)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    ox, oy = corners[None, :, 0] * half_m[:, :1], corners[None, :, 1] * half_m[:, 1:]
    east_m, north_m = ox * cos - oy * sin, ox * sin + oy * cos
    m_per_deg = 111_320.0
    return np.stack(
        [
            cx[:, None] + east_m / (m_per_deg * np.cos(np.radians(cy))[:, None]),
            cy[:, None] + north_m / m_per_deg,
        ],
        axis=-1,
    )


def _exact_box(cx: float, cy: float, exact_x: bool, exact_y: bool) -> shapely.Polygon:
    """Axis-aligned box whose shapely centroid equals (cx, cy) exactly on the constrained axes."""
    for k in range(13, 18):
        for hx_units, hy_units in ((1, 1), (1, 2), (2, 1), (3, 2), (2, 3)):
            hx, hy = hx_units * 2.0**-k, hy_units * 2.0**-k
            poly = shapely.box(cx - hx, cy - hy, cx + hx, cy + hy)
            c = poly.centroid
            if (not exact_x or c.x == cx) and (not exact_y or c.y == cy):
                return poly
    raise RuntimeError(f"no box with centroid exactly at ({cx!r}, {cy!r}); choose another edge point")


def edge_points(grid: RegionGrid, rng: np.random.Generator) -> list[tuple[float, float, bool, bool]]:
    """(x, y, exact_x, exact_y) on internal and outer region edges and on every region corner."""
    n_rows, n_cols = grid.n_chunks
    row_edges = [min(r * grid.chunks[0], grid.shape[0]) for r in range(n_rows + 1)]
    col_edges = [min(c * grid.chunks[1], grid.shape[1]) for c in range(n_cols + 1)]
    snap = 2.0**-24  # free coordinates on a dyadic grid keep the centroid arithmetic exact
    points = []
    for col in col_edges:
        for r in range(n_rows):
            for frac in rng.uniform(0.1, 0.9, 2):
                x, y = grid.transform @ (
                    col,
                    row_edges[r] + frac * (row_edges[r + 1] - row_edges[r]),
                )
                points.append((x, round(y / snap) * snap, True, False))
    for row in row_edges:
        for c in range(n_cols):
            for frac in rng.uniform(0.1, 0.9, 2):
                x, y = grid.transform @ (
                    col_edges[c] + frac * (col_edges[c + 1] - col_edges[c]),
                    row,
                )
                points.append((round(x / snap) * snap, y, False, True))
    for row in row_edges:
        for col in col_edges:
            x, y = grid.transform @ (col, row)
            points.append((x, y, True, True))
    return points


def building_polygons(rng: np.random.Generator, grid: RegionGrid, coast: Coast, n: int) -> np.ndarray:
    """Footprints: edge/corner buildings on land, coastal ones, a few outside, the rest in towns."""
    _, bottom, right, top = grid.window_bounds(grid.full_window)
    special = [_exact_box(*p) for p in edge_points(grid, rng) if coast.is_land(p[0], p[1])]
    lat_c = rng.uniform(bottom, top, 12)
    coast_x = coast.lon(lat_c) + rng.uniform(-1e-4, 1e-4, 12)
    out_x = np.concatenate(
        [
            rng.uniform(right + 0.005, right + 0.05, 4),
            rng.uniform(coast.x_b + coast.width, right, 3),
        ]
    )
    out_y = np.concatenate([rng.uniform(bottom, top, 4), rng.uniform(top + 0.005, top + 0.05, 3)])
    extra_x, extra_y = np.concatenate([coast_x, out_x]), np.concatenate([lat_c, out_y])
    n_towns = max(n - len(special) - len(extra_x), 0)
    town_x, town_y = town_points(rng, grid, coast, n_towns)
    cx, cy = np.concatenate([extra_x, town_x]), np.concatenate([extra_y, town_y])
    rings = _box(cx, cy, rng.uniform(5.0, 15.0, (cx.size, 2)), rng.uniform(0, np.pi / 2, cx.size))
    generic = shapely.polygons(rings)
    return np.concatenate([np.array(special, dtype=object), generic])[:n]


def town_points(rng: np.random.Generator, grid: RegionGrid, coast: Coast, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` building centres in Gaussian towns on land inside the grid (some towns on corners)."""
    left, bottom, right, top = grid.window_bounds(grid.full_window)
    land_left = coast.x_b + coast.width * 0.8
    corners = [
        grid.transform @ (c * grid.chunks[1], r * grid.chunks[0])
        for r in range(1, grid.n_chunks[0])
        for c in range(2, grid.n_chunks[1])
    ]
    centres = np.array(
        corners + list(zip(rng.uniform(land_left, right, 10), rng.uniform(bottom, top, 10), strict=True))
    )
    sigma = rng.uniform(0.003, 0.012, len(centres))
    weight = rng.uniform(0.5, 2.0, len(centres))
    xs, ys = [np.empty(0)], [np.empty(0)]  # n may be 0 when the special buildings fill the quota
    while sum(len(a) for a in xs) < n:
        pick = rng.choice(len(centres), 2 * n + 16, p=weight / weight.sum())
        x = centres[pick, 0] + rng.normal(0, 1, pick.size) * sigma[pick]
        y = centres[pick, 1] + rng.normal(0, 1, pick.size) * sigma[pick]
        ok = coast.is_land(x, y) & (x - coast.lon(y) > 2e-3) & (x > left) & (x < right) & (y > bottom) & (y < top)
        xs.append(x[ok])
        ys.append(y[ok])
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _hilbert(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Hilbert index of points quantised to 16 bits over their own extent: a compact spatial sort.

    Unlike ``buildings.hilbert_key`` (a fixed CONUS frame), the frame here is the points' own
    bounding box, so the small demo area still uses the curve's full resolution.
    """
    side = (1 << HILBERT_LEVEL) - 1

    def quantise(v: np.ndarray) -> np.ndarray:
        return np.round((v - v.min()) / max(np.ptp(v), 1e-12) * side).astype(np.int64)

    return _hilbert_encode(quantise(x), quantise(y))


def write_buildings(rng: np.random.Generator, grid: RegionGrid, coast: Coast, n: int, path: str | Path) -> None:
    """Overture-style buildings GeoParquet 1.1 (see the module docstring)."""
    write_footprints(rng, building_polygons(rng, grid, coast, n), path)


def write_footprints(rng: np.random.Generator, polys: np.ndarray, path: str | Path) -> None:
    """Footprints (shapely polygons, EPSG:4326) → Overture-style GeoParquet 1.1: sorted along a
    Hilbert curve, random ids from ``rng``, float64 ``bbox`` covering, written atomically."""
    centroids = shapely.centroid(polys)
    order = np.argsort(_hilbert(shapely.get_x(centroids), shapely.get_y(centroids)), kind="stable")
    polys = polys[order]
    bounds = shapely.bounds(polys)
    ids = [rng.bytes(16).hex() for _ in range(len(polys))]
    bbox = pa.StructArray.from_arrays(
        [pa.array(bounds[:, i], pa.float64()) for i in range(4)],
        names=["xmin", "ymin", "xmax", "ymax"],
    )
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "crs": CRS.from_epsg(4326).to_json_dict(),
                "bbox": [
                    float(bounds[:, 0].min()),
                    float(bounds[:, 1].min()),
                    float(bounds[:, 2].max()),
                    float(bounds[:, 3].max()),
                ],
                "covering": {"bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}},
            }
        },
    }
    table = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "geometry": pa.array(shapely.to_wkb(polys), pa.binary()),
            "bbox": bbox,
        }
    )
    table = table.replace_schema_metadata({"geo": json.dumps(geo, sort_keys=True)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="zstd", write_statistics=True)


# ---- Census-style boundaries -----------------------------------------------------------------
LSAD_OF_SUFFIX = {"County": "06", "Parish": "15", "city": "25"}


def _land_m2(areas: list[usatlas.Area]) -> list[int]:
    """Area of each shape in EPSG:5070 (equal-area), m², rounded: the demo's ALAND."""
    shapes = reproject(np.array([a.geometry for a in areas]), "EPSG:4326", ALBERS)
    return [round(float(v)) for v in shapely.area(shapes)]


def census_columns(kind: str, areas: list[usatlas.Area]) -> dict[str, list[str] | list[int]]:
    """The cb_2023 attribute columns of bundled areas (see the module docstring for what is derived)."""
    aland, zeros = _land_m2(areas), [0] * len(areas)
    if kind == "states":
        return {
            "STATEFP": [a.geoid for a in areas],
            "STATENS": ["00000000"] * len(areas),
            "AFFGEOID": [f"0400000US{a.geoid}" for a in areas],
            "GEOID": [a.geoid for a in areas],
            "STUSPS": [a.stusps for a in areas],
            "NAME": [a.name for a in areas],
            "LSAD": ["00"] * len(areas),
            "ALAND": aland,
            "AWATER": zeros,
        }
    return {
        "STATEFP": [a.geoid[:2] for a in areas],
        "COUNTYFP": [a.geoid[2:] for a in areas],
        "COUNTYNS": ["00000000"] * len(areas),
        "AFFGEOID": [f"0500000US{a.geoid}" for a in areas],
        "GEOID": [a.geoid for a in areas],
        "NAME": [a.short_name for a in areas],
        "NAMELSAD": [a.name for a in areas],
        "STUSPS": [a.stusps for a in areas],
        "STATE_NAME": [usatlas.STATES[a.geoid[:2]][1] for a in areas],
        "LSAD": [LSAD_OF_SUFFIX.get(a.name.rsplit(" ", 1)[-1], "00") for a in areas],
        "ALAND": aland,
        "AWATER": zeros,
    }


def write_boundaries(grid: RegionGrid, paths: Mapping[str, str]) -> None:
    """The states and counties intersecting the (lon/lat) grid as Census-style zipped shapefiles."""
    frame = shapely.box(*grid.window_bounds(grid.full_window))
    for kind, areas in (("states", usatlas.states()), ("counties", usatlas.counties())):
        chosen = sorted((a for a in areas if a.geometry.intersects(frame)), key=lambda a: a.geoid)
        stem = Path(DEMO_LAYOUT[kind]).stem
        nad83 = reproject(np.array([a.geometry for a in chosen]), "EPSG:4326", CENSUS_CRS)
        write_shapefile_zip(paths[kind], stem, census_columns(kind, chosen), nad83, CENSUS_CRS)


# ---- entry point ----------------------------------------------------------------------------
def generate_demo_inputs(settings: Settings, outputs: Mapping[str, str] | None = None) -> dict[str, str]:
    """Write every demo input; ``outputs`` (keys: OUTPUT_KEYS) defaults to ``demo_outputs``."""
    demo = settings.demo
    if demo is None:
        raise ValueError("generate_demo_inputs: the config has no 'demo' section. Fix: use a demo config")
    paths = dict(outputs or demo_outputs(demo))
    missing = [k for k in OUTPUT_KEYS if k not in paths]
    if missing:
        raise ValueError(f"generate_demo_inputs: outputs lacks {missing}; give a path for each of {OUTPUT_KEYS}")
    grid = settings.region_grid()
    if not grid.is_geographic:
        raise ValueError(
            f"demo: grid.crs is {grid.crs!r}, but the synthetic demo inputs need a geographic "
            "grid. Fix: set grid.crs to EPSG:4326 (as config/config.yaml does)"
        )
    # Independent streams, so changing n_buildings or hours leaves the other files unchanged.
    raster_rng, wind_rng, building_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(demo.seed).spawn(3))
    coast = Coast(grid)
    log.info("writing demo rasters (seed %s)", demo.seed)
    write_rasters(raster_rng, grid, settings.grid.buffer_px, coast, paths)
    hours, n_buildings = demo.hours, demo.n_buildings
    log.info("writing %s hours of surface fields to %s", hours, paths["wind"])
    write_hourly(wind_rng, grid, coast, hours, paths["wind"])
    log.info("writing %s buildings to %s", n_buildings, paths["buildings"])
    write_buildings(building_rng, grid, coast, n_buildings, paths["buildings"])
    log.info("writing Census-style boundaries to %s and %s", paths["states"], paths["counties"])
    write_boundaries(grid, paths)
    return {k: str(v) for k, v in paths.items()}
