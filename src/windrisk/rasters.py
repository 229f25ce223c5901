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
import urllib.request
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.errors import RasterioError

from windrisk.grid import RegionGrid, Window

# Output pixels transformed per block: about 8 float64 temporaries each, so ~130 MB per block.
BLOCK_PIXELS = 2_000_000
# Points per edge when transforming a window's bounds to the native CRS (edges may curve).
DENSIFY_PTS = 64


class InputError(ValueError):
    """A raster input is missing, unreadable or does not cover the requested window."""


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
            f"the raster does not overlap the grid window {window}",
            f"point '{name}' at a raster that covers the output grid",
        )
    return row0, row1, col0, col1


def _read_native(
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
    with rasterio.Env(**_gdal_s3_options()), _open(location, name) as src:
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
            native = _read_native(src, (row0, row1), (col0, col1))
        except RasterioError as exc:
            raise _fail(
                name,
                location,
                f"reading failed: {exc}",
                f"check that '{name}' is a complete, readable raster",
            ) from None
        transform = src.transform
    if native_fn is not None:
        native = np.asarray(
            native_fn(native[0] if native.shape[0] == 1 else native), dtype=np.float32
        )
        native = native.reshape(-1, row1 - row0, col1 - col0)
    out = _sample_nearest(native, transform, (row0, col0), grid, window, src_crs)
    return out[0] if out.shape[0] == 1 else out


# ---- identity of inputs (provenance) --------------------------------------------------------
def input_identity(location: str) -> dict[str, Any]:
    """What identifies an input's content: size and mtime (local), ETag or size/date (remote).

    Never raises: a remote stat that fails just leaves those keys out.
    """
    identity: dict[str, Any] = {"location": location}
    if location.startswith("s3://"):
        identity.update(_s3_identity(location))
    elif location.startswith(("https://", "http://")):
        identity.update(_http_identity(location))
    elif not _is_remote(location):
        identity.update(_local_identity(Path(location)))
    return identity


def _local_identity(path: Path) -> dict[str, Any]:
    """Size and mtime of a file, or total size and newest mtime of a directory (e.g. Zarr)."""
    if path.is_dir():
        stats = [p.stat() for p in path.rglob("*") if p.is_file()]
        return {
            "size": sum(s.st_size for s in stats),
            "mtime": max((s.st_mtime for s in stats), default=0.0),
        }
    if path.exists():
        stat = path.stat()
        return {"size": stat.st_size, "mtime": stat.st_mtime}
    return {}


def _s3_identity(location: str) -> dict[str, Any]:
    """ETag, size and date of an S3 object via boto3 (endpoint and credentials from the env)."""
    try:
        import boto3

        bucket, _, key = location[len("s3://") :].partition("/")
        client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
        head = client.head_object(Bucket=bucket, Key=key)
        return {
            "etag": head["ETag"].strip('"'),
            "size": head["ContentLength"],
            "last_modified": head["LastModified"].isoformat(),
        }
    except Exception:  # noqa: BLE001 - provenance is best effort, never a reason to fail a job
        return {}


def _http_identity(location: str) -> dict[str, Any]:
    """ETag, size and date from an HTTP HEAD request."""
    try:
        request = urllib.request.Request(location, method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as response:
            headers = response.headers
        found = {
            "etag": headers.get("ETag"),
            "size": headers.get("Content-Length"),
            "last_modified": headers.get("Last-Modified"),
        }
        return {k: (int(v) if k == "size" else v.strip('"')) for k, v in found.items() if v}
    except Exception:  # noqa: BLE001 - provenance is best effort
        return {}
