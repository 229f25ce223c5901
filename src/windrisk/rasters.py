"""Reading raster inputs (local path, ``s3://``, ``https://``) onto windows of the output grid.

``read_on_grid`` reads only the native-CRS window that covers a grid window (plus a margin),
turns nodata into NaN, optionally applies a function at native resolution (the burn-probability
gap fill), and resamples by *exact* nearest neighbour: each output pixel centre is transformed
to the native CRS with pyproj and takes the native pixel that contains it
(``floor(inverse_affine(x, y))``). The result for a pixel depends only on that pixel's centre,
so a region read alone equals the same pixels of the whole grid read at once (no seams).
GDAL warp is not used: its approximate transformer depends on the size of the output window.

Exact at approximate speed: PROJ runs at ~3 Mpx/s, so transforming every pixel centre of a
full region (38 Mpx with its buffer) took ~14 s per raster. Instead only a lattice of every
``LATTICE_STEP``-th pixel centre is transformed, and native pixel positions in between are
interpolated bilinearly. Bilinear interpolation of a smooth map f over cells of h x h pixels errs
by at most (h²/8)(max|f_rr| + max|f_cc|); the lattice's second differences measure h² f'' at
its points, and f'' changes by a few per cent over a window (its scale is the Earth's radius), so
``CURVATURE_SAFETY`` times their maximum bounds the error. A pixel whose interpolated native
position lies within that bound of a native pixel edge (under 0.1 % of the published grid's
pixels read from 30 m EPSG:5070, fewer from 270 m) is transformed exactly, so every pixel takes
the same native pixel as the exact path (``sample_nearest_exact``, kept as the reference the tests
pin this to). On a full region window this resamples a raster in ~0.6 s instead of ~14 s.

``read_resampled`` stops before the values: it returns the native pixels and each grid pixel's
flat index into them (``Resampled``). The region job keeps the 4 km wind distribution that way,
so its eight bands are never spread over 38 Mpx of 30 m pixels.

Remote locations are opened by rasterio (``s3://`` → ``/vsis3/``, ``https://`` → ``/vsicurl/``);
credentials come from the environment as usual for GDAL/boto3.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np
import rasterio
import rasterio.windows
from affine import Affine
from numba import njit, prange
from pyproj import CRS, Transformer
from rasterio.errors import RasterioError

from windrisk.grid import RegionGrid, Window
from windrisk.inputs import InputError
from windrisk.timing import step

# Output pixels transformed per block: about 8 float64 temporaries each, so ~130 MB per block.
BLOCK_PIXELS = 2_000_000
# Grid pixels between exactly transformed lattice points; the interpolation error grows as its square.
LATTICE_STEP = 16
# Margin on the second derivatives measured at the lattice points (they vary ~3 % over a window).
CURVATURE_SAFETY = 2.0
# Floor of the error bound in native pixels: float64 rounding of the interpolation is ~1e-10 px.
ROUNDING_PX = 1e-7
# Points per edge when transforming a window's bounds to the native CRS (edges may curve).
DENSIFY_PTS = 64
# Index of a pixel whose native pixel the interpolation cannot decide (transformed exactly).
UNSURE = -2


def _fail(name: str, location: str, problem: str, fix: str) -> InputError:
    """The InputError for config key ``name``: what is wrong with ``location`` and the fix."""
    return InputError(f"{name}: {problem} ({location}). Fix: {fix}")


def _transformer(src_crs: str, dst_crs: str) -> Transformer:
    """Cached pyproj transformer in (x, y) = (lon, lat) order; one per thread (not thread-safe)."""
    return _cached_transformer(src_crs, dst_crs, threading.get_ident())


@lru_cache(maxsize=64)
def _cached_transformer(src_crs: str, dst_crs: str, _thread: int) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src_crs), CRS.from_user_input(dst_crs), always_xy=True)


def _crs_name(crs: str) -> str:
    """``EPSG:5070``-style name of a CRS when it has one, else its own name."""
    parsed = CRS.from_user_input(crs)
    authority = parsed.to_authority()
    return ":".join(authority) if authority else parsed.name


@lru_cache(maxsize=32)
def _same_crs(a: str, b: str) -> bool:
    return CRS.from_user_input(a) == CRS.from_user_input(b)


def _grid_to_native(grid: RegionGrid, src_crs: str) -> Transformer | None:
    """The transformer from grid coordinates to the raster's CRS (None: the same CRS)."""
    return None if _same_crs(grid.crs, src_crs) else _transformer(grid.crs, src_crs)


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


def read_native(src: rasterio.DatasetReader, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """Read a native window as float32 (band, row, col) with nodata and non-finite values as NaN."""
    win = rasterio.windows.Window.from_slices(rows, cols)
    # GDAL decodes the window's tiles on as many threads as numba may use (the job's threads).
    with rasterio.Env(GDAL_NUM_THREADS=str(numba.get_num_threads())):
        raw = src.read(window=win)
    out = raw.astype(np.float32, copy=False)  # float32 files: no copy (raw is ours)
    for band, nodata in enumerate(src.nodatavals):
        if nodata is None or math.isnan(nodata):
            continue
        # Compare in the file's own dtype so float32 nodata such as -3.4028235e38 matches exactly.
        with np.errstate(over="ignore", invalid="ignore"):
            nodata_native = np.array(nodata).astype(raw.dtype)
        nodata_mask = raw[band] == nodata_native  # before out (maybe raw itself) changes
        out[band][nodata_mask] = np.nan
    out[~np.isfinite(out)] = np.nan
    return out


def _native_index(
    transformer: Transformer | None, inverse: Affine, xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Grid pixel centres (xs, ys) → (row, col) of the native pixel containing each, as float
    (floor; NaN where the transform fails), indexed in the full raster so any window agrees."""
    nx, ny = (xs, ys) if transformer is None else transformer.transform(xs, ys)
    col_f, row_f = inverse @ (np.asarray(nx), np.asarray(ny))
    with np.errstate(invalid="ignore"):
        return np.floor(row_f), np.floor(col_f)


def _flat_index(
    offset: tuple[int, int], shape: tuple[int, int], row: np.ndarray, col: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Full-raster (row, col), float (NaN allowed) → (which lie in the native window of ``shape``
    at ``offset``, their flat index in it)."""
    row, col = row - offset[0], col - offset[1]
    inside = (row >= 0) & (row < shape[0]) & (col >= 0) & (col < shape[1])  # False for NaN
    return inside, row[inside].astype(np.int64) * shape[1] + col[inside].astype(np.int64)


def _gather(native: np.ndarray, offset: tuple[int, int], row: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Values (band, *row.shape) of the native pixels at full-raster (row, col); NaN outside ``native``."""
    inside, flat = _flat_index(offset, native.shape[1:], row, col)
    values = np.full((native.shape[0], *row.shape), np.nan, dtype=np.float32)
    values[:, inside] = native.reshape(native.shape[0], -1)[:, flat]
    return values


def sample_nearest_exact(
    native: np.ndarray,
    native_transform: Affine,
    offset: tuple[int, int],
    grid: RegionGrid,
    window: Window,
    src_crs: str,
) -> np.ndarray:
    """Exact nearest neighbour, every pixel centre through PROJ: the reference ``_sample_nearest``
    must equal bit for bit (``native`` is (band, row, col) starting at native ``offset``)."""
    out = np.full((native.shape[0], *window.shape), np.nan, dtype=np.float32)
    xs = grid.x_coords(window.cols)
    ys = grid.y_coords(window.rows)
    transformer = _grid_to_native(grid, src_crs)
    block_rows = max(1, BLOCK_PIXELS // max(len(xs), 1))
    for start in range(0, len(ys), block_rows):
        stop = min(start + block_rows, len(ys))
        gx, gy = np.meshgrid(xs, ys[start:stop])
        out[:, start:stop] = _gather(native, offset, *_native_index(transformer, ~native_transform, gx, gy))
    return out


@dataclass(frozen=True)
class Lattice:
    """Native (x, y) of every ``step``-th grid pixel centre, from grid (row0, col0) on."""

    row0: int
    col0: int
    step: int
    x: np.ndarray
    y: np.ndarray


def _lattice_start(start: int, step: int) -> int:
    return (start // step) * step  # aligned to the grid, so windows share lattice points


@lru_cache(maxsize=8)
def _lattice(grid: RegionGrid, window: Window, src_crs: str, step: int) -> Lattice:
    """The lattice covering ``window`` (at least 3 x 3 points, for second differences), in the
    raster's CRS; cached, so every raster of a window in the same CRS transforms it once."""
    row0, col0 = _lattice_start(window.row_start, step), _lattice_start(window.col_start, step)
    n_r = max(3, (window.row_stop - 1 - row0) // step + 2)
    n_c = max(3, (window.col_stop - 1 - col0) // step + 2)
    xs = grid.x_coords(slice(col0, col0 + step * (n_c - 1) + 1))[::step]
    ys = grid.y_coords(slice(row0, row0 + step * (n_r - 1) + 1))[::step]
    gx, gy = np.meshgrid(xs, ys)
    transformer = _grid_to_native(grid, src_crs)
    nx, ny = (gx, gy) if transformer is None else transformer.transform(gx, gy)
    return Lattice(row0, col0, step, np.asarray(nx, dtype=np.float64), np.asarray(ny, dtype=np.float64))


def interpolation_bound(values: np.ndarray) -> float:
    """Bound (native px) on bilinear interpolation error between lattice ``values`` (one native
    coordinate at the lattice points): (h²/8)(max|f_rr| + max|f_cc|) from second differences,
    times ``CURVATURE_SAFETY``, plus ``ROUNDING_PX``. Infinite (every pixel exact) when the
    transform fails anywhere on the lattice: near the edge of a projection's domain f is not smooth."""
    if not np.isfinite(values).all():
        return math.inf
    d_rr = np.abs(values[:-2] - 2 * values[1:-1] + values[2:])
    d_cc = np.abs(values[:, :-2] - 2 * values[:, 1:-1] + values[:, 2:])
    return CURVATURE_SAFETY * float(d_rr.max() + d_cc.max()) / 8 + ROUNDING_PX


@njit(parallel=True, cache=True)
def _index_from_lattice(
    lat_row, lat_col, step, r_in, c_in, bound_r, bound_c, off_r, off_c, nat_rows, nat_cols, index, unsure_per_row
):  # pragma: no cover - numba
    """Interpolated native (row, col) per output pixel → ``index`` takes the native pixel's flat
    index (-1 outside the native window), or UNSURE where the position is within the bound of a
    pixel edge (or not finite); ``unsure_per_row`` counts those per row."""
    n_rows, n_cols = index.shape
    n_lat = lat_row.shape[1]
    for i in prange(n_rows):
        index[i, :] = -1
        unsure = 0
        gi = i + r_in
        k = gi // step
        t = (gi - k * step) / step
        # This row's native positions at the lattice columns (linear in t between lattice rows).
        row_at = (1 - t) * lat_row[k] + t * lat_row[k + 1]
        col_at = (1 - t) * lat_col[k] + t * lat_col[k + 1]
        for m in range(c_in // step, n_lat - 1):
            j0 = m * step - c_in
            if j0 >= n_cols:
                break
            r0, dr = row_at[m], (row_at[m + 1] - row_at[m]) / step
            c0, dc = col_at[m], (col_at[m + 1] - col_at[m]) / step
            for q in range(max(0, -j0), min(step, n_cols - j0)):
                j = j0 + q
                rf = r0 + q * dr
                cf = c0 + q * dc
                if not (np.isfinite(rf) and np.isfinite(cf)):
                    index[i, j] = UNSURE
                    unsure += 1
                    continue
                r_floor = np.floor(rf)
                c_floor = np.floor(cf)
                if (
                    rf - r_floor < bound_r
                    or r_floor + 1 - rf < bound_r
                    or cf - c_floor < bound_c
                    or c_floor + 1 - cf < bound_c
                ):
                    index[i, j] = UNSURE
                    unsure += 1
                    continue
                r = int(r_floor) - off_r
                c = int(c_floor) - off_c
                if 0 <= r < nat_rows and 0 <= c < nat_cols:
                    index[i, j] = r * nat_cols + c
        unsure_per_row[i] = unsure


@njit(parallel=True, cache=True)
def _unsure_pixels(index, unsure_per_row):  # pragma: no cover - numba
    """(rows, cols) of the UNSURE pixels, found only in the rows that have some."""
    offsets = np.zeros(index.shape[0] + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(unsure_per_row)
    rows = np.empty(offsets[-1], dtype=np.int64)
    cols = np.empty(offsets[-1], dtype=np.int64)
    for i in prange(index.shape[0]):
        k = offsets[i]
        if k == offsets[i + 1]:
            continue
        for j in range(index.shape[1]):
            if index[i, j] == UNSURE:
                rows[k] = i
                cols[k] = j
                k += 1
    return rows, cols


@njit(parallel=True, cache=True)
def _take(native, index, out):  # pragma: no cover - numba
    """out[b, i, j] = native[b, index[i, j]] (native flattened per band); NaN where the index is -1."""
    n_bands = native.shape[0]
    for i in prange(index.shape[0]):
        for j in range(index.shape[1]):
            k = index[i, j]
            for b in range(n_bands):
                out[b, i, j] = native[b, k] if k >= 0 else np.nan


@dataclass(frozen=True)
class Resampled:
    """A raster on a grid window, kept as its native pixels and, per grid pixel, the flat index of
    the native pixel it takes (-1: none). For a coarse raster (the 4 km distribution on a 30 m
    window) this is ~1/8 the memory of the values on the grid, and a consumer looking values up
    per pixel never needs the (band, H, W) array."""

    native: np.ndarray  # (band, rows, cols) float32
    index: np.ndarray  # (H, W) int32 into one band of ``native`` flattened

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the values on the grid, (band, H, W)."""
        return (self.native.shape[0], *self.index.shape)

    def values(self) -> np.ndarray:
        """The values on the grid, (band, H, W) float32."""
        out = np.empty(self.shape, dtype=np.float32)
        _take(np.ascontiguousarray(self.native, dtype=np.float32).reshape(self.native.shape[0], -1), self.index, out)
        return out

    @classmethod
    def of(cls, values: np.ndarray) -> Resampled:
        """(band, H, W) values already on the grid → their Resampled (every pixel its own native pixel)."""
        n_pixels = values.shape[1] * values.shape[2]
        if n_pixels >= 2**31:
            raise ValueError(f"{values.shape[1:]} pixels do not fit an int32 index")
        return cls(values, np.arange(n_pixels, dtype=np.int32).reshape(values.shape[1:]))


def _nearest_index(
    native_shape: tuple[int, int],
    native_transform: Affine,
    offset: tuple[int, int],
    grid: RegionGrid,
    window: Window,
    src_crs: str,
) -> np.ndarray:
    """Exact nearest neighbour at interpolation speed (see the module docstring): per grid pixel
    of ``window`` the flat index into the native (rows, cols) starting at ``offset`` (-1: outside),
    the same pixel ``sample_nearest_exact`` takes."""
    nat_rows, nat_cols = native_shape
    if nat_rows * nat_cols >= 2**31:
        raise ValueError(f"a native window of {nat_rows} x {nat_cols} px does not fit an int32 index")
    lattice = _lattice(grid, window, src_crs, LATTICE_STEP)
    inverse = ~native_transform
    lat_col, lat_row = inverse @ (lattice.x, lattice.y)
    lat_col, lat_row = np.asarray(lat_col, dtype=np.float64), np.asarray(lat_row, dtype=np.float64)
    index = np.empty(window.shape, dtype=np.int32)
    unsure_per_row = np.empty(window.shape[0], dtype=np.int64)
    _index_from_lattice(
        lat_row,
        lat_col,
        lattice.step,
        window.row_start - lattice.row0,
        window.col_start - lattice.col0,
        interpolation_bound(lat_row),
        interpolation_bound(lat_col),
        offset[0],
        offset[1],
        nat_rows,
        nat_cols,
        index,
        unsure_per_row,
    )
    rows, cols = _unsure_pixels(index, unsure_per_row)
    if rows.size:
        index[rows, cols] = -1
        transformer = _grid_to_native(grid, src_crs)
        xs, ys = grid.x_coords(window.cols)[cols], grid.y_coords(window.rows)[rows]
        inside, flat = _flat_index(offset, native_shape, *_native_index(transformer, inverse, xs, ys))
        index[rows[inside], cols[inside]] = flat
    return index


def _sample_nearest(
    native: np.ndarray,
    native_transform: Affine,
    offset: tuple[int, int],
    grid: RegionGrid,
    window: Window,
    src_crs: str,
) -> np.ndarray:
    """``_nearest_index`` applied to ``native`` (band, rows, cols): equal to ``sample_nearest_exact``."""
    index = _nearest_index(native.shape[1:], native_transform, offset, grid, window, src_crs)
    return Resampled(native, index).values()


def read_resampled(
    location: str,
    grid: RegionGrid,
    window: Window,
    *,
    name: str,
    native_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    margin_native_px: int = 2,
) -> Resampled:
    """The raster on a grid window as native pixels and an index (NaN for nodata); see ``read_on_grid``."""
    with step("read"), open_raster(location, name) as src:
        if src.crs is None:
            raise _fail(
                name,
                location,
                "the raster has no CRS",
                "use a georeferenced GeoTIFF (e.g. set it with `gdal_edit.py -a_srs EPSG:5070`)",
            )
        src_crs = src.crs.to_wkt()
        row0, row1, col0, col1 = _native_window(src, src_crs, grid, window, margin_native_px, name, location)
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
            native = np.asarray(native_fn(native[0] if native.shape[0] == 1 else native), dtype=np.float32)
        native = native.reshape(-1, row1 - row0, col1 - col0)
    with step("resample"):
        index = _nearest_index((row1 - row0, col1 - col0), transform, (row0, col0), grid, window, src_crs)
    return Resampled(np.ascontiguousarray(native, dtype=np.float32), index)


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
    resampled = read_resampled(
        location, grid, window, name=name, native_fn=native_fn, margin_native_px=margin_native_px
    )
    with step("resample"):
        out = resampled.values()
    return out[0] if out.shape[0] == 1 else out
