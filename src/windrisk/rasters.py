"""Reading raster inputs (local path, ``s3://``, ``https://``) onto windows of the output grid.

``read_on_grid`` reads only the native-CRS window that covers a grid window (plus a margin),
turns nodata into NaN, optionally applies a function at native resolution (the burn-probability
gap fill), and resamples by *exact* nearest neighbour: each output pixel centre is transformed
to the native CRS with pyproj and takes the native pixel that contains it
(``floor(inverse_affine(x, y))``). The result for a pixel depends only on that pixel's centre,
so a region read alone equals the same pixels of the whole grid read at once (no seams).
GDAL warp is not used: its approximate transformer depends on the size of the output window.

Remote locations are opened by rasterio (``s3://`` → ``/vsis3/``, ``https://`` → ``/vsicurl/``);
credentials come from the environment as usual for GDAL/boto3.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.errors import RasterioError

from windrisk.grid import RegionGrid, Window
from windrisk.inputs import InputError
from windrisk.timing import step

# Output pixels transformed per block: about 8 float64 temporaries each, so ~130 MB per block.
BLOCK_PIXELS = 2_000_000
# Points per edge when transforming a window's bounds to the native CRS (edges may curve).
DENSIFY_PTS = 64




def _fail(name: str, location: str, problem: str, fix: str) -> InputError:
    """The InputError for config key ``name``: what is wrong with ``location`` and the fix."""
    return InputError(f"{name}: {problem} ({location}). Fix: {fix}")


def _transformer(src_crs: str, dst_crs: str) -> Transformer:
    """Cached pyproj transformer in (x, y) = (lon, lat) order; one per thread (not thread-safe)."""
    return _cached_transformer(src_crs, dst_crs, threading.get_ident())


@lru_cache(maxsize=64)
def _cached_transformer(src_crs: str, dst_crs: str, _thread: int) -> Transformer:
    return Transformer.from_crs(
        CRS.from_user_input(src_crs), CRS.from_user_input(dst_crs), always_xy=True
    )


def _crs_name(crs: str) -> str:
    """``EPSG:5070``-style name of a CRS when it has one, else its own name."""
    parsed = CRS.from_user_input(crs)
    authority = parsed.to_authority()
    return ":".join(authority) if authority else parsed.name


@lru_cache(maxsize=32)
def _same_crs(a: str, b: str) -> bool:
    return CRS.from_user_input(a) == CRS.from_user_input(b)


def _gdal_s3_options() -> dict[str, str]:
    """GDAL settings for an S3-compatible endpoint given as AWS_ENDPOINT_URL (MinIO, moto)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint or "AWS_S3_ENDPOINT" in os.environ:
        return {}
    scheme, _, host = endpoint.partition("://")
    return {
        "AWS_S3_ENDPOINT": host.rstrip("/"),
        "AWS_HTTPS": "YES" if scheme == "https" else "NO",
        "AWS_VIRTUAL_HOSTING": "FALSE",
    }


def _is_remote(location: str) -> bool:
    return "://" in location


def _open(location: str, name: str) -> rasterio.DatasetReader:
    """Open a raster or raise InputError naming the config key and the fix."""
    if not _is_remote(location) and not Path(location).exists():
        raise _fail(
            name,
            location,
            "file does not exist",
            f"set '{name}' in the config to an existing raster (local path, s3:// or https://)",
        )
    try:
        return rasterio.open(location)
    except RasterioError as exc:
        raise _fail(
            name,
            location,
            f"cannot be opened as a raster: {exc}",
            f"point '{name}' at a readable GeoTIFF; for s3:// or https:// check the URL and "
            "the credentials in the environment",
        ) from None


@contextmanager
def open_raster(location: str, name: str) -> Iterator[rasterio.DatasetReader]:
    """The opened raster (S3-compatible endpoints from the environment); InputError naming ``name``."""
    with rasterio.Env(**_gdal_s3_options()), _open(location, name) as src:
        yield src


def _native_window(
    src: rasterio.DatasetReader,
    src_crs: str,
    grid: RegionGrid,
    window: Window,
    margin_px: int,
    name: str,
    location: str,
) -> tuple[int, int, int, int]:
    """Native (row0, row1, col0, col1) covering the window's edge bounds plus a margin, clipped."""
    left, bottom, right, top = grid.window_bounds(window)
    if _same_crs(grid.crs, src_crs):
        xs = np.array([left, right, left, right])
        ys = np.array([bottom, bottom, top, top])
    else:
        xmin, ymin, xmax, ymax = _transformer(grid.crs, src_crs).transform_bounds(
            left, bottom, right, top, densify_pts=DENSIFY_PTS
        )
        xs = np.array([xmin, xmax, xmin, xmax])
        ys = np.array([ymin, ymin, ymax, ymax])
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        raise _fail(
            name,
            location,
            "the grid window cannot be transformed to the raster's CRS",
            "use a raster whose CRS covers the output grid",
        )
    cols, rows = ~src.transform @ (xs, ys)
    row0 = max(math.floor(min(rows)) - margin_px, 0)
    row1 = min(math.ceil(max(rows)) + margin_px, src.height)
    col0 = max(math.floor(min(cols)) - margin_px, 0)
    col1 = min(math.ceil(max(cols)) + margin_px, src.width)
    if row0 >= row1 or col0 >= col1:
        raise _fail(
            name,
            location,
            f"in its CRS ({_crs_name(src_crs)}) the raster does not overlap the grid window {window}",
            f"point '{name}' at a raster that covers the output grid; if its CRS tag is wrong, set "
            f"the right one (gdal_edit.py -a_srs EPSG:5070 {location} for the USFS products)",
        )
    return row0, row1, col0, col1


def read_native(
    src: rasterio.DatasetReader, rows: tuple[int, int], cols: tuple[int, int]
) -> np.ndarray:
    """Read a native window as float32 (band, row, col) with nodata and non-finite values as NaN."""
    win = rasterio.windows.Window.from_slices(rows, cols)
    raw = src.read(window=win)
    out = raw.astype(np.float32)
    for band, nodata in enumerate(src.nodatavals):
        if nodata is None or math.isnan(nodata):
            continue
        # Compare in the file's own dtype so float32 nodata such as -3.4028235e38 matches exactly.
        with np.errstate(over="ignore", invalid="ignore"):
            nodata_native = np.array(nodata).astype(raw.dtype)
        out[band][raw[band] == nodata_native] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out


def _sample_nearest(
    native: np.ndarray,
    native_transform: Affine,
    offset: tuple[int, int],
    grid: RegionGrid,
    window: Window,
    src_crs: str,
) -> np.ndarray:
    """Exact nearest neighbour: each grid pixel centre takes the native pixel containing it."""
    n_bands, n_rows, n_cols = native.shape
    out = np.full((n_bands, *window.shape), np.nan, dtype=np.float32)
    xs = grid.x_coords(window.cols)
    ys = grid.y_coords(window.rows)
    identity = _same_crs(grid.crs, src_crs)
    transformer = None if identity else _transformer(grid.crs, src_crs)
    inverse = ~native_transform
    flat = native.reshape(n_bands, -1)
    block_rows = max(1, BLOCK_PIXELS // max(len(xs), 1))
    for start in range(0, len(ys), block_rows):
        stop = min(start + block_rows, len(ys))
        gx, gy = np.meshgrid(xs, ys[start:stop])
        nx, ny = (gx, gy) if transformer is None else transformer.transform(gx, gy)
        # Index in the full raster first, then shift: identical for any window (seam-free).
        col_f, row_f = inverse @ (np.asarray(nx), np.asarray(ny))
        with np.errstate(invalid="ignore"):
            col = np.floor(col_f) - offset[1]
            row = np.floor(row_f) - offset[0]
        ok = (row >= 0) & (row < n_rows) & (col >= 0) & (col < n_cols)
        idx = row[ok].astype(np.int64) * n_cols + col[ok].astype(np.int64)
        block = out[:, start:stop]
        block[:, ok] = flat[:, idx]
    return out


def read_on_grid(
    location: str,
    grid: RegionGrid,
    window: Window,
    *,
    name: str,
    native_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    margin_native_px: int = 2,
) -> np.ndarray:
    """The raster on a grid window: float32, NaN for nodata; (row, col) or (band, row, col).

    ``native_fn`` gets the native float32 array (same dimensions as the result) before resampling.
    ``name`` is the config key of the input, used in every error.
    """
    with step("read"), open_raster(location, name) as src:
        if src.crs is None:
            raise _fail(
                name,
                location,
                "the raster has no CRS",
                "use a georeferenced GeoTIFF (e.g. set it with `gdal_edit.py -a_srs EPSG:5070`)",
            )
        src_crs = src.crs.to_wkt()
        row0, row1, col0, col1 = _native_window(
            src, src_crs, grid, window, margin_native_px, name, location
        )
        try:
            native = read_native(src, (row0, row1), (col0, col1))
        except RasterioError as exc:
            raise _fail(
                name,
                location,
                f"reading failed: {exc}",
                f"check that '{name}' is a complete, readable raster",
            ) from None
        transform = src.transform
    if native_fn is not None:
        with step("gap fill"):
            native = np.asarray(
                native_fn(native[0] if native.shape[0] == 1 else native), dtype=np.float32
            )
        native = native.reshape(-1, row1 - row0, col1 - col0)
    with step("resample"):
        out = _sample_nearest(native, transform, (row0, col0), grid, window, src_crs)
    return out[0] if out.shape[0] == 1 else out
