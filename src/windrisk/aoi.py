"""``windrisk regions``: the region ids of an area of interest, ready for ``--config regions=...``.

    windrisk regions --bbox -105.3,39.6,-104.6,40.1 --configfile config/conus.yaml
    snakemake --configfile config/conus.yaml --config regions=$(windrisk regions --bbox ...)

The box is longitude/latitude in WGS84 (west, south, east, north). Its edges are densified when
projected onto the grid's CRS, so every region the box touches is listed; only regions with data
(``grid.data_regions``) are, comma-separated in the order of the data region list.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from pyproj import Transformer

from windrisk.config import ConfigError
from windrisk.grid import RegionGrid, region_id
from windrisk.settings import Settings, data_region_ids, load_settings

LONLAT = "EPSG:4326"
DENSIFY_POINTS = 21  # per box edge: a projected edge bends (Albers), its extremes may lie between corners

BBox = tuple[float, float, float, float]


class AreaError(ValueError):
    """The area of interest is unusable; the message says why and what to do."""


class NoRegionsError(AreaError):
    """The area holds no region with data."""


def parse_bbox(text: str) -> BBox:
    """``'W,S,E,N'`` in degrees → (west, south, east, north), checked."""
    parts = [p.strip() for p in text.split(",")]
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise AreaError(
            f"--bbox {text!r}: give four numbers W,S,E,N in degrees, e.g. -105.3,39.6,-104.6,40.1"
        ) from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise AreaError(f"--bbox {text!r}: every value must be a finite number of degrees")
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise AreaError(
            f"--bbox {text!r}: need -180 <= W < E <= 180 and -90 <= S < N <= 90 (longitude first, west before east)"
        )
    return west, south, east, north


def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def grid_lonlat_bounds(grid: RegionGrid) -> BBox:
    """The grid's extent as a lon/lat box (for messages)."""
    bounds = grid.window_bounds(grid.full_window)
    west, south, east, north = _transformer(grid.crs, LONLAT).transform_bounds(*bounds, densify_pts=DENSIFY_POINTS)
    return west, south, east, north


def chunks_touched(grid: RegionGrid, bbox: BBox) -> set[str]:
    """Ids of every grid chunk (with data or not) that the lon/lat box touches."""
    x0, y0, x1, y1 = _transformer(LONLAT, grid.crs).transform_bounds(*bbox, densify_pts=DENSIFY_POINTS)
    rows, cols = grid.pixel_index(np.array([x0, x1]), np.array([y0, y1]))
    r0, r1 = max(int(rows.min()), 0), min(int(rows.max()), grid.shape[0] - 1)
    c0, c1 = max(int(cols.min()), 0), min(int(cols.max()), grid.shape[1] - 1)
    if r0 > r1 or c0 > c1:
        return set()
    (cr, cc) = grid.chunks
    return {region_id(r, c) for r in range(r0 // cr, r1 // cr + 1) for c in range(c0 // cc, c1 // cc + 1)}


def regions_in_bbox(settings: Settings, grid: RegionGrid, bbox: BBox, base_dir: Path | None = None) -> list[str]:
    """The data regions the box touches, in the order of the data region list."""
    touched = chunks_touched(grid, bbox)
    return [rid for rid in data_region_ids(settings, grid, base_dir) if rid in touched]


def _bbox_joined(argv: list[str]) -> list[str]:
    """``--bbox -105.7,...`` as ``--bbox=-105.7,...``: argparse takes a value starting with '-' for
    an option, and western longitudes are negative."""
    out, rest = [], iter(argv)
    for arg in rest:
        out.append(f"--bbox={next(rest, '')}" if arg == "--bbox" else arg)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="windrisk regions", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml", help="workflow config (YAML)")
    parser.add_argument("--bbox", required=True, help="W,S,E,N in degrees (WGS84), e.g. -105.3,39.6,-104.6,40.1")
    args = parser.parse_args(_bbox_joined(argv))
    try:
        settings = load_settings(args.configfile)
        grid = settings.region_grid()
        bbox = parse_bbox(args.bbox)
        found = regions_in_bbox(settings, grid, bbox, base_dir=Path.cwd())
        if not found:
            west, south, east, north = grid_lonlat_bounds(grid)
            raise NoRegionsError(
                f"no region with data touches {args.bbox}; the grid of {args.configfile} covers "
                f"lon {west:.2f}..{east:.2f}, lat {south:.2f}..{north:.2f}"
            )
    except NoRegionsError as exc:  # a valid question with an empty answer
        print(f"windrisk regions: {exc}", file=sys.stderr)
        return 1
    except (AreaError, ConfigError) as exc:
        print(f"windrisk regions: {exc}", file=sys.stderr)
        return 2
    print(",".join(found))
    return 0
