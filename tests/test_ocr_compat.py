"""``method.compat: ocr-v1.1.0`` against a plain re-statement of the published arithmetic.

The oracle below is written from the published method, not imported: kernels on
``np.linspace(-41, 40, 81)`` px scaled by haversine pixel sizes at the window's centre,
3 iterations of ``cv2.filter2D`` in float32 with OpenCV's default border, all 8 directions held at
once, an xarray-style skipna composite, and ``cv2.GaussianBlur`` with its default border on the
array with its NaNs. The inputs have much non-burnable land, so the spreading decides the result.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from windrisk import ocr_compat, wind
from windrisk.config import ConfigError, config_hash, validate_config
from windrisk.fireweather import DIRECTIONS
from windrisk.grid import RegionGrid, Window

COMPAT = ocr_compat.Deviations()  # everything ocr-v1.1.0 does differently
DEG = 0.00030799387843671866  # the demo grid's (and the published 30 m grid's) pixel, degrees
WEST, NORTH = -122.9, 38.2
SHAPE = (260, 300)


def window_grid(shape: tuple[int, int] = SHAPE, north_up: bool = False) -> RegionGrid:
    """One region covering a window of ``shape`` px, rows ascending north as published."""
    e, f = (-DEG, NORTH) if north_up else (DEG, NORTH - shape[0] * DEG)
    return RegionGrid.from_config(
        {"crs": "EPSG:4326", "transform": [DEG, 0.0, WEST, 0.0, e, f], "shape": list(shape), "chunks": list(shape)}
    )


# ---- the oracle ---------------------------------------------------------------------------------
def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    lon1, lat1, lon2, lat2 = map(math.radians, (lon1, lat1, lon2, lat2))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


def published_kernels(lon: float, lat: float) -> dict[str, np.ndarray]:
    dy = haversine_km(lon, lat, lon, lat + DEG) * 1000
    dx = haversine_km(lon, lat, lon + DEG, lat) * 1000
    steps = np.linspace(-81.0 // 2, 81.0 // 2, 81)
    xx, yy = np.meshgrid(steps * dx, steps * dy)  # rows ascend north: +y is north
    a, b, c = 400.0, 200.0, 110.0
    s = c / math.sqrt(2)

    def diagonal(x: np.ndarray, y: np.ndarray, along_ne: bool) -> np.ndarray:
        p, q = (a, b) if along_ne else (b, a)
        return (x + y) ** 2 / (2 * p**2) + (y - x) ** 2 / (2 * q**2) <= 1

    masks = {
        "N": (xx / b) ** 2 + ((yy - c) / a) ** 2 <= 1,
        "S": (xx / b) ** 2 + ((yy + c) / a) ** 2 <= 1,
        "E": ((xx - c) / a) ** 2 + (yy / b) ** 2 <= 1,
        "W": ((xx + c) / a) ** 2 + (yy / b) ** 2 <= 1,
        "NE": diagonal(xx - s, yy - s, True),
        "SW": diagonal(xx + s, yy + s, True),
        "NW": diagonal(xx + s, yy - s, False),
        "SE": diagonal(xx - s, yy + s, False),
    }
    return {d: (m / m.sum()).astype(np.float32) for d, m in masks.items()}


def published_spread(bp: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    arr = np.nan_to_num(bp, nan=0.0).astype(np.float32)
    for _ in range(3):
        cm = cv2.filter2D((arr > 0).astype(np.float32), -1, kernel)
        ca = cv2.filter2D(arr, -1, kernel)
        cm[cm < 1e-11] = 0
        ca[ca < 1e-11] = 0
        arr = np.where(cm > 0, ca / np.where(cm > 0, cm, 1), 0).astype(np.float32)
    arr[np.isnan(bp)] = np.nan
    return arr


def published_wind_informed_bp(
    bp: np.ndarray, dist: np.ndarray, grid: RegionGrid, window: Window | None = None
) -> np.ndarray:
    left, bottom, right, top = grid.window_bounds(window or grid.full_window)
    kernels = published_kernels((left + right) / 2, (bottom + top) / 2)
    spreads = np.stack([published_spread(bp, kernels[d]) for d in DIRECTIONS])
    total = dist.sum(axis=0)
    valid = (total > 0) & ~np.isnan(dist).any(axis=0)
    weighted = np.nansum(spreads * (dist / np.where(valid, total, 1)), axis=0)  # skipna, as xarray
    weighted[~valid] = np.nan
    kept = np.where(bp == 0, weighted, bp).astype(np.float32)
    ksize = 2 * int(300 / (DEG * 111_000)) + 1
    return cv2.GaussianBlur(kept, (ksize, ksize), 0)


# ---- inputs with real non-burnable land ---------------------------------------------------------
def patchy_inputs(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """BP with fields, towns, lakes and roads at 0, an ocean corner of NaN, and a distribution
    with pixels lacking fire weather (all 0) and NaN."""
    rng = np.random.default_rng(seed)
    h, w = SHAPE
    bp = (rng.random(SHAPE) * 0.04 + 1e-4).astype(np.float32)
    rows, cols = np.mgrid[0:h, 0:w]
    for _ in range(40):  # fields and towns: rectangles from 2 to 60 px
        r, c = rng.integers(0, h), rng.integers(0, w)
        bp[r : r + rng.integers(2, 60), c : c + rng.integers(2, 60)] = 0
    for _ in range(6):  # lakes
        r, c, radius = rng.integers(0, h), rng.integers(0, w), rng.integers(3, 25)
        bp[(rows - r) ** 2 + (cols - c) ** 2 <= radius**2] = 0
    bp[rng.integers(0, h, 3)] = 0  # roads, one pixel wide
    bp[:, rng.integers(0, w, 3)] = 0
    bp[(rows > 200) & (cols < 60 - (rows - 200))] = np.nan  # sea in a corner
    dist = rng.dirichlet(np.ones(8), size=SHAPE).transpose(2, 0, 1).astype(np.float32)
    dist[:, 10:20, 100:130] = 0  # no fire-weather hours
    dist[:, 230:240, 200:210] = np.nan
    return bp, dist


def test_published_geometry_by_hand() -> None:
    offsets = ocr_compat.kernel_offsets_px(81)
    assert offsets[0] == -41 and offsets[-1] == 40 and offsets[1] - offsets[0] == pytest.approx(1.0125)
    assert offsets[40] == pytest.approx(-0.5)  # the kernel's anchor sits half a pixel south-west of 0
    grid = window_grid()
    dy, dx = ocr_compat.window_pixel_size_m(grid, grid.full_window)
    # Along a meridian the haversine is R * dlat: 6,371,000 m * 0.00030799388 deg * pi / 180 = 34.24736 m.
    assert dy == pytest.approx(34.24736, abs=1e-5)
    # Along a parallel at the centre (38.16 N): ~R * cos(lat) * dlon = 34.2471 * cos(38.16 deg).
    assert dx == pytest.approx(34.24736 * math.cos(math.radians(38.16)), rel=1e-4)
    assert wind.blur_ksize(ocr_compat.blur_pixel_height_m(grid)) == 17  # 2 * int(300 / (0.000308 * 111,000) = 8.77) + 1


def test_compat_equals_the_published_arithmetic_where_spreading_decides() -> None:
    grid = window_grid()
    bp, dist = patchy_inputs()
    size, ksize = wind.window_geometry(grid, "y0_x0", grid.full_window, COMPAT)
    got = wind.wind_informed_bp(bp, dist, size, grid.rows_ascend_north, compat=COMPAT, ksize=ksize)
    want = published_wind_informed_bp(bp, dist, grid)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.nanmax(np.abs(got - want)) <= 1e-6
    # Not vacuous: a third of the land does not burn, and the spreading gives most of it a value.
    land = np.isfinite(bp)
    assert 0.25 <= (bp[land] == 0).mean() <= 0.6
    spread_into = land & (bp == 0) & (wind.composite(bp, dist, wind.direction_kernels(size, True, True)) > 0)
    assert spread_into.sum() > 0.15 * land.sum()
    # ... and the published choices matter: the default method differs on those pixels.
    default = wind.wind_informed_bp(bp, dist, grid.pixel_size_m("y0_x0"), True)
    changed = np.abs(default - got) > 1e-6
    assert changed[spread_into].mean() > 0.05
    assert np.isnan(got).sum() > np.isnan(default).sum()  # the published blur grows NaN holes


def test_compat_kernels_are_the_published_layout() -> None:
    grid = window_grid()
    size, _ = wind.window_geometry(grid, "y0_x0", grid.full_window, COMPAT)
    left, bottom, right, top = grid.window_bounds(grid.full_window)
    published = published_kernels((left + right) / 2, (bottom + top) / 2)
    ours = wind.direction_kernels(size, True, published_layout=True)
    centred = wind.direction_kernels(size, True)
    for d in DIRECTIONS:
        np.testing.assert_array_equal(ours[d] > 0, published[d] > 0, err_msg=d)
        assert ((ours[d] > 0) != (centred[d] > 0)).sum() > 10, d  # the layouts really differ


def test_compat_needs_the_published_grid_layout() -> None:
    with pytest.raises(ValueError, match="rows ascending northward"):
        wind.window_geometry(window_grid(north_up=True), "y0_x0", window_grid().full_window, COMPAT)
    from conftest import demo_config_in

    cfg = demo_config_in(Path("/nonexistent")).as_config()
    cfg["method"] = {"compat": ocr_compat.OCR_V1_1_0}
    validate_config(cfg)
    cfg["grid"]["transform"] = [30.0, 0.0, -2_000_000.0, 0.0, -30.0, 3_000_000.0]
    cfg["grid"]["crs"] = "EPSG:5070"
    with pytest.raises(ConfigError, match="geographic CRS"):
        validate_config(cfg)
    cfg["method"] = {"compat": "ocr-v9"}
    with pytest.raises(ConfigError, match="allowed values"):
        validate_config(cfg)


def test_compat_enters_the_region_provenance_only_when_set() -> None:
    from conftest import demo_config_in

    from windrisk import store

    settings = demo_config_in(Path("/nonexistent"))
    raw = settings.as_config()
    raw.pop("method")
    assert config_hash({"grid": {k: v for k, v in raw["grid"].items() if k != "data_regions"}}) == (
        store.region_config_hash(settings)
    )  # runs made before the option keep their regions
    compat = settings.updated({"method": {"compat": ocr_compat.OCR_V1_1_0}})
    assert store.region_config_hash(compat) != store.region_config_hash(settings)  # switching reruns every region


@pytest.mark.parametrize("name", ocr_compat.NAMES)
def test_each_published_choice_alone_is_wired(name: str) -> None:
    """``windrisk compare --each`` measures the choices one at a time: each must reach the result."""
    grid = window_grid()
    bp, dist = patchy_inputs()
    alone = ocr_compat.only(name)
    size, ksize = wind.window_geometry(grid, "y0_x0", grid.full_window, alone)
    default_size = grid.pixel_size_m("y0_x0")
    if name == "pixel_size":
        # Sphere vs ellipsoid differ by ~0.2 % here: no kernel pixel and not the blur size move
        # at this latitude, so the sizes are what must differ.
        assert abs(size[1] / default_size[1] - 1) > 1e-3 and abs(size[0] / default_size[0] - 1) > 1e-3
        assert ksize == wind.blur_ksize(default_size[0])
        return
    got = wind.wind_informed_bp(bp, dist, size, True, compat=alone, ksize=ksize)
    default = wind.wind_informed_bp(bp, dist, default_size, True)
    assert np.nanmax(np.abs(got - default)) > 1e-6 or np.isnan(got).sum() != np.isnan(default).sum()
