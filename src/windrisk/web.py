"""The offline map page: ``index.html`` beside the PMTiles, with its scripts in ``vendor/``.

The page loads MapLibre GL JS and the ``pmtiles`` protocol from ``vendor/`` (copied from this
package, pinned in ``web/package.json``), so viewing needs no network. It draws the buildings
coloured by score over, when present beside it, an offline vector basemap (or any MapLibre style
named by ``tiles.basemap``) and a choropleth of regional summaries, with a place search over a
gazetteer and the method as ``method.html``. Each optional file missing turns its feature off.
PMTiles are read with HTTP range requests, so open the page through ``windrisk serve``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from pmtiles.reader import MmapSource, Reader

from windrisk.buildings import SCORE_EDGES_PCT
from windrisk.grid import RegionGrid
from windrisk.io import atomic_path, files_digest
from windrisk.settings import TilesSettings
from windrisk.variables import CLIMATE_RUNS, VARIABLES

# Attributes the tiles carry (docs/architecture.md); the popup takes the units of these.
POPUP_FIELDS: tuple[str, ...] = (
    "id",
    "rps_2011",
    "rps_2047",
    "bp_2011",
    "bp_2047",
    "score_2011",
    "score_2047",
)
# Human labels of the popup's rows, one row per variable with one column per climate run.
POPUP_LABELS: dict[str, str] = {
    "rps": "Risk to potential structures",
    "bp": "Burn probability",
    "score": "Score",
}
# Scores 0..10 (index = score): matplotlib's cividis sampled at 1, 0.9, ..., 0, light to dark.
# Cividis is perceptually uniform and made for colour vision deficiency; neighbouring classes
# differ by CIEDE2000 >= 5 for normal vision, deuteranopia and protanopia (tests/test_map.py).
SCORE_PALETTE: tuple[str, ...] = (
    "#fee838",
    "#e5cf52",
    "#c8b866",
    "#aea371",
    "#948e77",
    "#7d7c78",
    "#666970",
    "#4f576c",
    "#35456c",
    "#083370",
    "#00224e",
)
NO_DATA_COLOUR = "#b0b0b0"
# Words for score ranges (docs/method.md, "Scores"): (lowest score, highest score, words).
SCORE_WORDS: tuple[tuple[int, int, str], ...] = (
    (0, 0, "none"),
    (1, 2, "very low"),
    (3, 4, "low"),
    (5, 6, "moderate"),
    (7, 8, "high"),
    (9, 10, "very high"),
)
CONFIG_MARKER = "/*WINDRISK_CONFIG*/null"
# Files the page may find beside it; each missing one turns its feature off.
METHOD_PAGE = "method.html"
# The offline basemap's glyphs, beside the page (MapLibre's {fontstack}/{range} template).
BASEMAP_FONTS = "fonts"
GLYPHS_URL = BASEMAP_FONTS + "/{fontstack}/{range}.pbf"
# A local style JSON given as tiles.basemap is copied beside the page under this name.
BASEMAP_STYLE = "basemap-style.json"
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
    extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the page's script needs: tile URL, layer, bounds, palette, labels and region outlines.

    ``extras`` holds the optional features' entries (``method``, ``basemap``, ``gazetteer``,
    ``summaries``); each is null when its file is absent, and the page turns the feature off.
    """
    summary = pmtiles_summary(pmtiles_path)
    layer = tiles.layer
    if summary["layers"] and layer not in summary["layers"]:
        raise MapPageError(
            f"{pmtiles_path} has vector layers {summary['layers']} but tiles.layer is {layer!r}; "
            "rebuild the PMTiles or fix tiles.layer in the config"
        )
    units = {name: VARIABLES[name][0] for name in POPUP_FIELDS if name in VARIABLES}
    config = {
        "pmtiles": Path(pmtiles_path).name,
        "layer": layer,
        "bounds": summary["bounds"],
        "climate_runs": list(CLIMATE_RUNS),
        "popup_labels": POPUP_LABELS,
        "units": units,
        "score_legend": score_legend(),
        "no_data_colour": NO_DATA_COLOUR,
        "regions": regions,
        "method": None,
        "basemap": None,
        "gazetteer": None,
        "summaries": None,
    }
    config.update(extras or {})
    return config


def _pct(value: float) -> str:
    return f"{float(value):g}"


def score_legend() -> list[dict[str, Any]]:
    """Each score's colour, RPS range in % (from ``SCORE_EDGES_PCT``) and words, score 0 first."""
    edges = [float(e) for e in SCORE_EDGES_PCT]
    words = {s: w for lo, hi, w in SCORE_WORDS for s in range(lo, hi + 1)}
    rows = []
    for score, colour in enumerate(SCORE_PALETTE):
        if score == 0:
            bins = f"≤ {_pct(edges[0])} %"
        elif score < len(edges):
            bins = f"{_pct(edges[score - 1])}–{_pct(edges[score])} %"
        else:
            bins = f"> {_pct(edges[-1])} %"
        rows.append({"score": score, "colour": colour, "bins": bins, "words": words[score]})
    return rows


def _inline_md(text: str) -> str:
    """Escaped text with `code`, **bold**, *italic* and [links](relative-or-http)."""
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
            continue
        part = html.escape(part, quote=True)
        part = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", part)
        part = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", part)

        def link(m: re.Match[str]) -> str:
            href = m.group(2)
            # Only plain relative, anchor or http(s) targets: never javascript: or data:.
            if re.match(r"^(https?://|#|[\w./-]+$)", href):
                return f'<a href="{href}">{m.group(1)}</a>'
            return m.group(0)

        out.append(re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", link, part))
    return "".join(out)


def _table_cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def markdown_to_html(text: str) -> str:
    """A safe subset of Markdown as HTML: headings, paragraphs, lists, code, tables.

    Everything is escaped first; only the constructs above make tags. Raw HTML in the source
    shows as text. Enough for docs/method.md, not a general Markdown engine.
    """
    lines = text.splitlines()
    out: list[str] = []
    para: list[str] = []
    i = 0

    def flush() -> None:
        if para:
            out.append(f"<p>{_inline_md(' '.join(para))}</p>")
            para.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(body))}</code></pre>")
            i += 1
        elif m := re.match(r"^(#{1,6})\s+(.*)$", stripped):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline_md(m.group(2))}</h{level}>")
            i += 1
        elif stripped.startswith("|") and i + 1 < len(lines) and re.match(r"^\|?[\s:|-]+\|?$", lines[i + 1].strip()):
            flush()
            head = "".join(f"<th>{_inline_md(c)}</th>" for c in _table_cells(stripped))
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = "".join(f"<td>{_inline_md(c)}</td>" for c in _table_cells(lines[i]))
                rows.append(f"<tr>{cells}</tr>")
                i += 1
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
        elif re.match(r"^(\s*)([-*]|\d+\.)\s+", line):
            flush()
            ordered = bool(re.match(r"^\s*\d+\.", line))
            items: list[str] = []
            while i < len(lines) and lines[i].strip():
                if m := re.match(r"^\s*([-*]|\d+\.)\s+(.*)$", lines[i]):
                    items.append(m.group(2))
                else:  # a continuation line of the item above
                    items[-1] += " " + lines[i].strip()
                i += 1
            tag = "ol" if ordered else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{_inline_md(it)}</li>" for it in items) + f"</{tag}>")
        elif not stripped:
            flush()
            i += 1
        else:
            para.append(stripped)
            i += 1
    flush()
    return "\n".join(out)


METHOD_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>windrisk: the method</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 1rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; font-size: 13px; }} td, th {{ border: 1px solid #ccc; padding: 2px 6px; }}
pre, code {{ background: #f3f3f3; }} pre {{ padding: 6px; overflow-x: auto; }}
</style>
</head>
<body>
<p><a href="index.html">&larr; back to the map</a></p>
{body}
</body>
</html>
"""


def write_method_page(method_md: str | Path, out_html: str | Path) -> Path:
    """``method_md`` (docs/method.md) as a standalone HTML page ``out_html``."""
    method_md = Path(method_md)
    try:
        text = method_md.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MapPageError(f"{method_md} does not exist; pass the repository's docs/method.md") from None
    with atomic_path(out_html) as tmp:
        tmp.write_text(METHOD_TEMPLATE.format(body=markdown_to_html(text)), encoding="utf-8")
    return Path(out_html)


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


def _beside(path: str | Path | None, page_dir: Path, what: str) -> Path | None:
    """``path`` if it exists (it must sit beside the page, which loads it by name), else None."""
    if path is None or not Path(path).exists():
        return None
    path = Path(path)
    if path.resolve().parent != page_dir.resolve():
        raise MapPageError(f"the {what} {path} must sit beside the map page in {page_dir}; write it there")
    return path


def basemap_config(basemap_style: str | None, basemap: Path | None, page_dir: Path) -> dict[str, Any] | None:
    """The page's basemap: a MapLibre style (``tiles.basemap``), the offline PMTiles, or None.

    A local style file is copied beside the page; a URL is used as given (the page then needs
    that network). Glyphs for the offline basemap are used only when ``fonts/`` is beside it.
    """
    if basemap_style:
        if re.match(r"^[a-z][a-z0-9+.-]*://", basemap_style):
            return {"style": basemap_style}
        source = Path(basemap_style)
        if not source.is_file():
            raise MapPageError(
                f"tiles.basemap is {basemap_style!r}, which is neither a URL nor an existing style JSON; "
                "fix tiles.basemap in the config (null for the offline basemap)"
            )
        try:
            json.loads(source.read_text())
        except ValueError as exc:
            raise MapPageError(f"tiles.basemap {source} is not JSON ({exc}); give a MapLibre style JSON") from exc
        with atomic_path(page_dir / BASEMAP_STYLE) as tmp:
            shutil.copyfile(source, tmp)
        return {"style": BASEMAP_STYLE}
    if basemap is None:
        return None
    glyphs = GLYPHS_URL if (page_dir / BASEMAP_FONTS).is_dir() else None
    return {"pmtiles": basemap.name, "glyphs": glyphs}


def write_map_page(
    pmtiles_path: str | Path,
    out_html: str | Path,
    tiles: TilesSettings,
    grid: RegionGrid | None = None,
    region_ids: Sequence[str] = (),
    *,
    method_md: Path | None = None,
    basemap: Path | None = None,
    gazetteer: Path | None = None,
    summaries: Path | None = None,
) -> Path:
    """Write ``out_html`` (and ``vendor/`` beside it) showing ``pmtiles_path``; return the page.

    ``method_md`` becomes ``method.html`` beside the page. ``basemap`` (vector PMTiles, with
    ``fonts/`` for labels), ``gazetteer`` (JSON) and ``summaries`` (PMTiles of the regional
    summaries) must sit beside the page; a missing one turns its feature off.
    """
    out_html = Path(out_html)
    page_dir = out_html.parent
    if Path(pmtiles_path).resolve().parent != out_html.resolve().parent:
        raise MapPageError(
            f"the map page {out_html} must sit beside {pmtiles_path}, which it loads by name; "
            f"write the page into {Path(pmtiles_path).parent}"
        )
    regions = regions_geojson(grid, region_ids) if grid is not None and region_ids else None
    extras: dict[str, Any] = {}
    if method_md is not None:
        extras["method"] = write_method_page(method_md, page_dir / METHOD_PAGE).name
    extras["basemap"] = basemap_config(tiles.basemap, _beside(basemap, page_dir, "basemap"), page_dir)
    if found := _beside(gazetteer, page_dir, "gazetteer"):
        extras["gazetteer"] = found.name
    if found := _beside(summaries, page_dir, "regional summaries"):
        extras["summaries"] = found.name
    config = page_config(pmtiles_path, tiles, regions, extras)
    copy_assets(page_dir / "vendor")
    with atomic_path(out_html) as tmp:
        tmp.write_text(render_page(config))
    return out_html


def assets_digest() -> str:
    """SHA-256 over the page template, script and vendored files (changes rebuild the page)."""
    web = files("windrisk").joinpath("web")
    vendored = [f"vendor/{p.name}" for p in web.joinpath("vendor").iterdir() if p.is_file()]
    return files_digest(web, ["index.html", *PAGE_ASSETS, *vendored])
