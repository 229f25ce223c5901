"""The published arithmetic (CarbonPlan ``ocr`` v1.1.0, ``ocr/risks/fire.py``) where it differs from
windrisk's choices, for ``method.compat: ocr-v1.1.0``: results comparable with the published dataset.

Only the places that differ live here; ``windrisk.wind`` runs the rest of the method unchanged.

* **Kernel layout.** Offsets ``np.linspace(-81.0 // 2, 81.0 // 2, 81)`` = -41 ... +40 px in steps of
  1.0125: the ellipse sits half a pixel towards higher indices (north-east on the published grid)
  and is 1.25 % compressed. windrisk's default lays the kernel out on whole pixels, centred.
* **Pixel size** of the kernel layout: haversine on a sphere of 6,371 km, one grid step from the
  window's centre (windrisk: WGS84 radii of curvature at the region's centre).
* **Blur size:** ``2 * int(300 m / (dlat * 111 km)) + 1`` (windrisk: the WGS84 meridional size);
  ``wind.blur_ksize`` of ``blur_pixel_height_m``.
* **Borders:** the spreading and the blur reflect the window at its edges (OpenCV's default
  ``BORDER_REFLECT_101``); windrisk counts outside the window as not burning and renormalises
  the blur over in-grid pixels. Inside a buffered window both only differ at the grid's outer edge.
* **NaN in the blur** spreads to every pixel within the blur radius (a plain weighted sum);
  windrisk renormalises over the non-NaN pixels.

Resampling stays exact nearest neighbour: GDAL's warp, as the published code calls it, picks
source pixels with an approximate transformer that depends on the window, so a region would
differ from the same pixels computed with its neighbours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Final

import numpy as np
from scipy import ndimage

from windrisk.grid import RegionGrid, Window

OCR_V1_1_0: Final = "ocr-v1.1.0"
MODES: Final = (OCR_V1_1_0,)
EARTH_RADIUS_M: Final = 6_371_000.0  # the published haversine's sphere
DEGREE_OF_LATITUDE_M: Final = 111_000.0  # the published blur size takes a degree as 111 km


@dataclass(frozen=True)
class Deviations:
    """Which published choices to reproduce; ``method.compat: ocr-v1.1.0`` turns on all of them.
    One at a time they measure each row of docs/method.md's table (``windrisk compare --each``)."""

    kernel_layout: bool = True  # linspace offsets instead of centred whole pixels
    pixel_size: bool = True  # haversine at the window's centre, and the 111 km blur size
    spread_border: bool = True  # the window reflected instead of zeros
    blur: bool = True  # plain Gaussian: border reflected, NaN spreading

    def __bool__(self) -> bool:
        """Whether any published choice is on (``NONE`` is windrisk's method)."""
        return any(getattr(self, name) for name in NAMES)


NAMES: Final = tuple(f.name for f in fields(Deviations))
NONE: Final = Deviations(**dict.fromkeys(NAMES, False))  # windrisk's method


def deviations(mode: str | None) -> Deviations | None:
    """``method.compat`` → the deviations it reproduces (None: windrisk's method)."""
    if mode is None:
        return None
    if mode not in MODES:
        raise ValueError(f"method.compat is {mode!r}; allowed: null or one of {list(MODES)}")
    return Deviations()


def only(name: str) -> Deviations:
    """Just the published choice ``name`` (one of NAMES), windrisk's everywhere else."""
    return replace(NONE, **{name: True})


def kernel_offsets_px(size: int) -> np.ndarray:
    """Offsets (px, float64) of an odd ``size`` kernel's rows and columns in the published layout."""
    return np.linspace(-float(size) // 2, float(size) // 2, size)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (m) on the published sphere between two points in degrees."""
    lon1, lat1, lon2, lat2 = map(math.radians, (lon1, lat1, lon2, lat2))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def window_pixel_size_m(grid: RegionGrid, window: Window) -> tuple[float, float]:
    """(dy_m, dx_m): one grid step north and east of the window's centre, by haversine."""
    left, bottom, right, top = grid.window_bounds(window)
    lon, lat = (left + right) / 2, (bottom + top) / 2
    dlon, dlat = abs(grid.transform.a), abs(grid.transform.e)
    return haversine_m(lon, lat, lon, lat + dlat), haversine_m(lon, lat, lon + dlon, lat)


def blur_pixel_height_m(grid: RegionGrid) -> float:
    """The pixel height the published blur is sized by: the latitude step at 111 km a degree."""
    return abs(grid.transform.e) * DEGREE_OF_LATITUDE_M


def grid_problem(grid: RegionGrid) -> str:
    """Why the published arithmetic cannot be reproduced on ``grid`` ("" when it can)."""
    if not grid.is_geographic or not grid.rows_ascend_north:
        return (
            "method.compat: ocr-v1.1.0 reproduces the published code on its own grid layout: a "
            "geographic CRS (EPSG:4326) with rows ascending northward (transform e > 0). Fix: use such "
            "a grid, or drop method.compat"
        )
    return ""


def reflect_pad(arr: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """``arr`` padded by (rows, cols) mirrored without repeating the edge (OpenCV BORDER_REFLECT_101)."""
    return np.pad(arr, ((pad[0], pad[0]), (pad[1], pad[1])), mode="reflect")


def gaussian_blur(arr: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``cv2.GaussianBlur`` as published: separable, border reflected, NaN spreading; float32."""
    rows = ndimage.correlate1d(np.asarray(arr, dtype=np.float64), weights, axis=0, mode="mirror")
    return ndimage.correlate1d(rows, weights, axis=1, mode="mirror").astype(np.float32)
