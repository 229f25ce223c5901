"""The output grid and its regions.

A region is exactly one chunk of the output grid. Its id is ``y{row}_x{col}``, the chunk's
index in the grid's own row order: row 0 is the first row of the array. On the published
CONUS grid the affine's ``e`` is positive, so rows ascend northward and ``y0`` is the
southern-most row of chunks; on a north-up grid (``e < 0``) ``y0`` is the northern-most.
``RegionGrid.rows_ascend_north`` says which.

Bounds are pixel-*edge* bounds (``left, bottom, right, top``); a point belongs to a region
when ``left <= x < right`` and ``bottom <= y < top`` on a grid whose rows ascend northward,
and ``bottom < y <= top`` on a north-up grid, so ownership always follows the array's
half-open pixel index ``floor((y - f) / e)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from affine import Affine

REGION_ID_PATTERN = re.compile(r"^y(0|[1-9][0-9]*)_x(0|[1-9][0-9]*)$")
WGS84_A_M = 6_378_137.0
WGS84_F = 1 / 298.257223563


class RegionIdError(ValueError):
    """A region id is malformed or outside the grid."""


@dataclass(frozen=True)
class Window:
    """A rectangle of grid pixels: rows ``[row_start, row_stop)``, cols ``[col_start, col_stop)``."""

    row_start: int
    row_stop: int
    col_start: int
    col_stop: int

    @property
    def rows(self) -> slice:
        return slice(self.row_start, self.row_stop)

    @property
    def cols(self) -> slice:
        return slice(self.col_start, self.col_stop)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.row_stop - self.row_start, self.col_stop - self.col_start)

    def relative_to(self, outer: Window) -> tuple[slice, slice]:
        """Slices that cut this window out of an array covering ``outer``."""
        return (
            slice(self.row_start - outer.row_start, self.row_stop - outer.row_start),
            slice(self.col_start - outer.col_start, self.col_stop - outer.col_start),
        )


@dataclass(frozen=True)
class RegionGrid:
    """A raster grid cut into regions of one chunk each.

    ``transform`` maps pixel-edge (col, row) to (x, y) in ``crs``; ``shape`` and ``chunks``
    are (rows, cols).
    """

    crs: str
    transform: Affine
    shape: tuple[int, int]
    chunks: tuple[int, int]

    def __post_init__(self) -> None:
        if self.transform.b != 0 or self.transform.d != 0:
            raise ValueError("grid.transform: rotated grids are not supported; b and d must be 0")
        if min(self.shape) <= 0 or min(self.chunks) <= 0:
            raise ValueError("grid.shape and grid.chunks must be positive")

    @classmethod
    def from_config(cls, grid_config: Mapping[str, Any]) -> RegionGrid:
        """Build the grid from the ``grid`` section of a validated config."""
        return cls(
            crs=str(grid_config["crs"]),
            transform=Affine(*grid_config["transform"]),
            shape=(int(grid_config["shape"][0]), int(grid_config["shape"][1])),
            chunks=(int(grid_config["chunks"][0]), int(grid_config["chunks"][1])),
        )

    # ---- chunk layout -------------------------------------------------------------------
    @property
    def n_chunks(self) -> tuple[int, int]:
        """Number of chunk rows and chunk columns (the last ones may be partial)."""
        return (
            math.ceil(self.shape[0] / self.chunks[0]),
            math.ceil(self.shape[1] / self.chunks[1]),
        )

    @property
    def rows_ascend_north(self) -> bool:
        return self.transform.e > 0

    @property
    def is_geographic(self) -> bool:
        from pyproj import CRS

        return CRS.from_user_input(self.crs).is_geographic

    @cached_property
    def all_region_ids(self) -> tuple[str, ...]:
        rows, cols = self.n_chunks
        return tuple(region_id(r, c) for r in range(rows) for c in range(cols))

    def chunk_index(self, rid: str) -> tuple[int, int]:
        """``y{row}_x{col}`` → (row, col); raises RegionIdError for bad or outside ids."""
        match = REGION_ID_PATTERN.match(rid) if isinstance(rid, str) else None
        if match is None:
            raise RegionIdError(
                f"region id {rid!r} is malformed: expected 'y<row>_x<col>' such as 'y0_x0'. {self._valid_ids_hint()}"
            )
        row, col = int(match.group(1)), int(match.group(2))
        rows, cols = self.n_chunks
        if row >= rows or col >= cols:
            raise RegionIdError(
                f"region id {rid!r} is outside the grid of {rows} x {cols} chunks. {self._valid_ids_hint()}"
            )
        return row, col

    def _valid_ids_hint(self) -> str:
        ids = self.all_region_ids
        shown = ", ".join(ids) if len(ids) <= 40 else f"{ids[0]} … {ids[-1]}"
        rows, cols = self.n_chunks
        return f"Valid ids are y0..y{rows - 1} x x0..x{cols - 1}: {shown}"

    def validate_region_ids(self, rids: Iterable[str], allowed: Sequence[str] | None = None) -> list[str]:
        """Check every id (against ``allowed`` when given); return them in grid order, unique."""
        wanted = list(dict.fromkeys(rids))
        for rid in wanted:
            self.chunk_index(rid)
        if allowed is not None:
            allowed_set = set(allowed)
            unknown = [rid for rid in wanted if rid not in allowed_set]
            if unknown:
                shown = ", ".join(allowed) if len(allowed) <= 40 else f"{len(allowed)} ids"
                raise RegionIdError(
                    f"region ids {unknown} hold no data on this grid (not in grid.data_regions). Valid ids: {shown}"
                )
        order = {rid: i for i, rid in enumerate(self.all_region_ids)}
        return sorted(wanted, key=order.__getitem__)

    # ---- pixels and coordinates -----------------------------------------------------------
    def region_window(self, rid: str) -> Window:
        """The region's pixels in the grid (the last row/column of chunks may be partial)."""
        row, col = self.chunk_index(rid)
        cy, cx = self.chunks
        return Window(
            row * cy,
            min((row + 1) * cy, self.shape[0]),
            col * cx,
            min((col + 1) * cx, self.shape[1]),
        )

    def region_slices(self, rid: str) -> tuple[slice, slice]:
        window = self.region_window(rid)
        return window.rows, window.cols

    def buffered_window(self, rid: str, buffer_px: int) -> Window:
        """The region grown by ``buffer_px`` on each side, clipped to the grid.

        Clipping makes a region computed alone see exactly what the whole grid sees.
        """
        w = self.region_window(rid)
        return Window(
            max(w.row_start - buffer_px, 0),
            min(w.row_stop + buffer_px, self.shape[0]),
            max(w.col_start - buffer_px, 0),
            min(w.col_stop + buffer_px, self.shape[1]),
        )

    @property
    def full_window(self) -> Window:
        return Window(0, self.shape[0], 0, self.shape[1])

    def window_bounds(self, window: Window) -> tuple[float, float, float, float]:
        """Pixel-edge (left, bottom, right, top) of a window."""
        x0, y0 = self.transform @ (window.col_start, window.row_start)
        x1, y1 = self.transform @ (window.col_stop, window.row_stop)
        return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def region_bounds(self, rid: str) -> tuple[float, float, float, float]:
        return self.window_bounds(self.region_window(rid))

    def x_coords(self, cols: slice | None = None) -> np.ndarray:
        """Pixel-centre x coordinates (float64) of the given columns."""
        cols = cols or slice(0, self.shape[1])
        idx = np.arange(cols.start, cols.stop, dtype=np.float64)
        return self.transform.c + (idx + 0.5) * self.transform.a

    def y_coords(self, rows: slice | None = None) -> np.ndarray:
        """Pixel-centre y coordinates (float64) of the given rows."""
        rows = rows or slice(0, self.shape[0])
        idx = np.arange(rows.start, rows.stop, dtype=np.float64)
        return self.transform.f + (idx + 0.5) * self.transform.e

    def pixel_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid (row, col) of the pixels containing points (half-open, int64; may be outside;
        (-1, -1) for non-finite points)."""
        inv = ~self.transform
        with np.errstate(invalid="ignore"):
            col_f, row_f = inv @ (np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
        finite = np.isfinite(col_f) & np.isfinite(row_f)
        return (
            np.where(finite, np.floor(np.where(finite, row_f, 0)), -1).astype(np.int64),
            np.where(finite, np.floor(np.where(finite, col_f, 0)), -1).astype(np.int64),
        )

    def region_of_points(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Region id of each point (``""`` for points outside the grid), one owner per point."""
        row, col = self.pixel_index(x, y)
        inside = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        out = np.full(row.shape, "", dtype=object)
        crow, ccol = row[inside] // self.chunks[0], col[inside] // self.chunks[1]
        out[inside] = [region_id(int(r), int(c)) for r, c in zip(crow, ccol, strict=True)]
        return out

    def pixel_size_m(self, rid: str) -> tuple[float, float]:
        """Ground size (dy_m, dx_m) of one pixel at the region's centre.

        Geographic grids use the WGS84 ellipsoid, so the x size shrinks with latitude; projected
        grids are assumed to be in metres.
        """
        if not self.is_geographic:
            return abs(self.transform.e), abs(self.transform.a)
        _, bottom, _, top = self.region_bounds(rid)
        return self._geographic_pixel_m((bottom + top) / 2)

    def buffer_px(self, buffer_m: float) -> int:
        """Pixels needed to cover ``buffer_m`` metres in both directions anywhere on the grid."""
        if not self.is_geographic:
            return math.ceil(buffer_m / min(abs(self.transform.a), abs(self.transform.e)))
        # Pixels are narrowest in x at the grid's most poleward row.
        _, bottom, _, top = self.window_bounds(self.full_window)
        return math.ceil(buffer_m / min(self._geographic_pixel_m(max(abs(bottom), abs(top)))))

    def _geographic_pixel_m(self, lat_deg: float) -> tuple[float, float]:
        """(dy_m, dx_m) of a pixel at latitude ``lat_deg`` from the WGS84 radii of curvature."""
        lat = math.radians(lat_deg)
        e2 = WGS84_F * (2 - WGS84_F)
        w = math.sqrt(1 - e2 * math.sin(lat) ** 2)
        meridional_m = WGS84_A_M * (1 - e2) / w**3
        prime_vertical_m = WGS84_A_M / w
        dy_m = math.radians(abs(self.transform.e)) * meridional_m
        dx_m = math.radians(abs(self.transform.a)) * prime_vertical_m * math.cos(lat)
        return dy_m, dx_m


def region_id(row: int, col: int) -> str:
    """Chunk index → region id."""
    return f"y{row}_x{col}"
