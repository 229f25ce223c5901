"""The offline map page: ``index.html`` beside the PMTiles, with its scripts in ``vendor/``.

The page loads MapLibre GL JS and the ``pmtiles`` protocol from ``vendor/`` (copied from this
package, pinned in ``web/package.json``), so viewing needs no network: there is no basemap, only
a background colour, the outline of the run's regions and the buildings coloured by score.
PMTiles are read with HTTP range requests, so open the page through ``windrisk serve``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from pmtiles.reader import MmapSource, Reader

from windrisk.grid import RegionGrid
from windrisk.io import atomic_path
from windrisk.settings import TilesSettings
from windrisk.variables import CLIMATE_RUNS, VARIABLES

# Attributes the tiles carry (docs/architecture.md); the popup shows them in this order.
POPUP_FIELDS: tuple[str, ...] = (
    "id",
    "rps_2011",
    "rps_2047",
    "bp_2011",
    "bp_2047",
    "score_2011",
    "score_2047",
)
CONFIG_MARKER = "/*WINDRISK_CONFIG*/null"
# Files of the page itself, next to the vendored libraries in vendor/.
PAGE_ASSETS: tuple[str, ...] = ("map.js", "map.css")


class MapPageError(ValueError):
    """The PMTiles cannot back the map page; the message names the file and the fix."""


def pmtiles_summary(path: str | Path) -> dict[str, Any]:
    """Bounds, zooms and vector layer names from a PMTiles file's header and metadata."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            reader = Reader(MmapSource(f))
            header, metadata = reader.header(), reader.metadata()
    except FileNotFoundError:
        raise MapPageError(f"{path} does not exist; build it first (snakemake {path})") from None
    except Exception as exc:  # the reader raises bare errors on a truncated or foreign file
        raise MapPageError(f"{path} is not a readable PMTiles v3 archive ({exc}); rebuild it") from exc
    layers = [layer.get("id") for layer in metadata.get("vector_layers", [])]
    return {
        "bounds": [
            header["min_lon_e7"] / 1e7,
            header["min_lat_e7"] / 1e7,
            header["max_lon_e7"] / 1e7,
            header["max_lat_e7"] / 1e7,
        ],
        "min_zoom": header["min_zoom"],
        "max_zoom": header["max_zoom"],
        "layers": layers,
    }


def regions_geojson(grid: RegionGrid, region_ids: Sequence[str]) -> dict[str, Any]:
    """The regions' pixel-edge bounds as a GeoJSON FeatureCollection of polygons."""
    features = []
    for rid in region_ids:
        left, bottom, right, top = grid.region_bounds(rid)
        ring = [[left, bottom], [right, bottom], [right, top], [left, top], [left, bottom]]
        features.append(
            {
                "type": "Feature",
                "properties": {"region_id": rid},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def page_config(
    pmtiles_path: str | Path,
    tiles: TilesSettings,
    regions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the page's script needs: tile URL, layer, bounds, variables and region outlines."""
    summary = pmtiles_summary(pmtiles_path)
    layer = tiles.layer
    if summary["layers"] and layer not in summary["layers"]:
        raise MapPageError(
            f"{pmtiles_path} has vector layers {summary['layers']} but tiles.layer is {layer!r}; "
            "rebuild the PMTiles or fix tiles.layer in the config"
        )
    units = {name: VARIABLES[name][0] for name in POPUP_FIELDS if name in VARIABLES}
    return {
        "pmtiles": Path(pmtiles_path).name,
        "layer": layer,
        "bounds": summary["bounds"],
        "climate_runs": list(CLIMATE_RUNS),
        "popup_fields": list(POPUP_FIELDS),
        "units": units,
        "regions": regions,
    }


def render_page(config: Mapping[str, Any]) -> str:
    """The page template with ``config`` inlined as JSON (safe inside a script element)."""
    template = files("windrisk").joinpath("web/index.html").read_text()
    if CONFIG_MARKER not in template:
        raise MapPageError(f"web/index.html lacks the config marker {CONFIG_MARKER!r}")
    payload = json.dumps(config, separators=(",", ":")).replace("</", "<\\/")
    return template.replace(CONFIG_MARKER, payload)


def copy_assets(dest: str | Path) -> None:
    """Replace ``dest`` with the vendored libraries, their licences and the page's script."""
    web = files("windrisk").joinpath("web")
    with atomic_path(dest, suffix="") as tmp, as_file(web) as web_dir:
        shutil.copytree(Path(web_dir) / "vendor", tmp)
        for name in PAGE_ASSETS:
            shutil.copy2(Path(web_dir) / name, tmp / name)


def write_map_page(
    pmtiles_path: str | Path,
    out_html: str | Path,
    tiles: TilesSettings,
    grid: RegionGrid | None = None,
    region_ids: Sequence[str] = (),
) -> Path:
    """Write ``out_html`` (and ``vendor/`` beside it) showing ``pmtiles_path``; return the page."""
    out_html = Path(out_html)
    if Path(pmtiles_path).resolve().parent != out_html.resolve().parent:
        raise MapPageError(
            f"the map page {out_html} must sit beside {pmtiles_path}, which it loads by name; "
            f"write the page into {Path(pmtiles_path).parent}"
        )
    regions = regions_geojson(grid, region_ids) if grid is not None and region_ids else None
    config = page_config(pmtiles_path, tiles, regions)
    copy_assets(out_html.parent / "vendor")
    with atomic_path(out_html) as tmp:
        tmp.write_text(render_page(config))
    return out_html


def assets_digest() -> str:
    """SHA-256 over the page template, script and vendored files (changes rebuild the page)."""
    web = files("windrisk").joinpath("web")
    digest = hashlib.sha256()
    names = ["index.html", *PAGE_ASSETS] + [f"vendor/{p.name}" for p in web.joinpath("vendor").iterdir()]
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + web.joinpath(name).read_bytes())
    return digest.hexdigest()
