"""``windrisk regions``: the region ids of an area of interest, ready for ``--config regions=...``.

    windrisk regions --bbox -105.3,39.6,-104.6,40.1 --configfile config/conus.yaml
    windrisk regions --state CO --configfile config/conus.yaml
    windrisk regions --county "Boulder County, CO" --configfile config/conus.yaml
    snakemake --configfile config/conus.yaml --config regions=$(windrisk regions --county ...)

The box is longitude/latitude in WGS84 (west, south, east, north). Its edges are densified when
projected onto the grid's CRS, so every region the box touches is listed. A state or county is
looked up in the configured Census boundaries (``inputs.boundaries``); a region is listed when
its rectangle in the grid's CRS intersects the area's polygon, not merely its bounding box.
Only regions with data (``grid.data_regions``) are, comma-separated in the data region order.
"""

from __future__ import annotations

import argparse
import difflib
import math
import sys
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from windrisk.boundaries import Boundaries, BoundaryError, load_boundaries, reproject
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


def regions_in_area(
    settings: Settings, grid: RegionGrid, area: BaseGeometry, base_dir: Path | None = None
) -> list[str]:
    """The data regions whose rectangle (in the grid's CRS) intersects the lon/lat polygon ``area``."""
    projected = reproject(area, LONLAT, grid.crs)
    shapely.prepare(projected)
    candidates = chunks_touched(grid, area.bounds)
    return [
        rid
        for rid in data_region_ids(settings, grid, base_dir)
        if rid in candidates and projected.intersects(shapely.box(*grid.region_bounds(rid)))
    ]


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _close(text: str, areas: Boundaries, columns: tuple[str, ...]) -> list[str]:
    """Labels of the areas whose label or name in ``columns`` is close to ``text`` (difflib)."""
    by_key: dict[str, str] = {}
    for i in range(len(areas)):
        for value in (areas.label(i), *(areas.attributes[c][i] for c in columns)):
            by_key.setdefault(_key(value), areas.label(i))
    keys = difflib.get_close_matches(_key(text), list(by_key), n=10, cutoff=0.6)
    return list(dict.fromkeys(by_key[k] for k in keys))[:5]


def find_state(states: Boundaries, text: str) -> int:
    """Index of the state named ``text`` ('Colorado' or 'CO'); AreaError with close names if none."""
    wanted = _key(text)
    for i in range(len(states)):
        if wanted in (_key(states.attributes["NAME"][i]), _key(states.attributes["STUSPS"][i])):
            return i
    close = _close(text, states, ("NAME", "STUSPS"))
    hint = f" Close: {', '.join(close)}." if close else ""
    raise AreaError(f"--state {text!r}: no such state in the configured boundaries.{hint} Give a name or USPS code")


def find_county(counties: Boundaries, text: str) -> int:
    """Index of the county ``text``: 'Boulder County, CO', 'Boulder, Colorado' or 'Boulder County'
    (the last only when one state has it); AreaError listing the matches or close names otherwise."""
    name, _, state = (part.strip() for part in text.rpartition(",")) if "," in text else (text, "", "")
    attrs = counties.attributes
    matches = [
        i
        for i in range(len(counties))
        if _key(name) in (_key(attrs["NAME"][i]), _key(attrs["NAMELSAD"][i]))
        and (not state or _key(state) in (_key(attrs["STUSPS"][i]), _key(attrs["STATE_NAME"][i])))
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = "; ".join(counties.label(i) for i in matches)
        raise AreaError(
            f"--county {text!r} is ambiguous: {listed}. Fix: add the state, e.g. {counties.label(matches[0])!r}"
        )
    close = _close(text, counties, ("NAME", "NAMELSAD"))
    hint = f" Close: {'; '.join(close)}." if close else ""
    raise AreaError(
        f"--county {text!r}: no such county in the configured boundaries.{hint} Give e.g. 'Boulder County, CO'"
    )


def area_of(settings: Settings, state: str | None, county: str | None) -> tuple[str, BaseGeometry]:
    """The label and lon/lat polygon of the state or county asked for."""
    kind, text = ("states", state) if state is not None else ("counties", county)
    areas = load_boundaries(settings, kind)
    i = find_state(areas, str(text)) if kind == "states" else find_county(areas, str(text))
    return areas.label(i), areas.geometry[i]


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
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--bbox", help="W,S,E,N in degrees (WGS84), e.g. -105.3,39.6,-104.6,40.1")
    where.add_argument("--state", help="a state's name or USPS code, e.g. Colorado or CO")
    where.add_argument("--county", help="a county, e.g. 'Boulder County, CO' or 'Boulder, CO'")
    args = parser.parse_args(_bbox_joined(argv))
    try:
        settings = load_settings(args.configfile)
        grid = settings.region_grid()
        if args.bbox is not None:
            asked = args.bbox
            found = regions_in_bbox(settings, grid, parse_bbox(args.bbox), base_dir=Path.cwd())
        else:
            asked, area = area_of(settings, args.state, args.county)
            found = regions_in_area(settings, grid, area, base_dir=Path.cwd())
        if not found:
            west, south, east, north = grid_lonlat_bounds(grid)
            raise NoRegionsError(
                f"no region with data touches {asked}; the grid of {args.configfile} covers "
                f"lon {west:.2f}..{east:.2f}, lat {south:.2f}..{north:.2f}"
            )
    except NoRegionsError as exc:  # a valid question with an empty answer
        print(f"windrisk regions: {exc}", file=sys.stderr)
        return 1
    except (AreaError, BoundaryError, ConfigError) as exc:
        print(f"windrisk regions: {exc}", file=sys.stderr)
        return 2
    print(",".join(found))
    return 0
