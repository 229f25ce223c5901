"""The offline basemap (windrisk.basemap) of the demo window: its layers and properties, the
labels' minimum zooms, the gazetteer, the glyph PBFs, and MapLibre drawing a label with them."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
import threading
from importlib.resources import files
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
from conftest import CONUS_CONFIG, DEMO_CONFIG
from pmtiles.reader import MmapSource, Reader, all_tiles
from test_map import Chromium, chromium_executable

from windrisk import basemap, glyphs
from windrisk.serve import make_server, server_url
from windrisk.settings import load_settings

LAYERS = {"land", "states", "counties", "labels"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, basemap.Basemap]:
    """The demo run's basemap, built into results/tiles of a temporary folder."""
    out = tmp_path_factory.mktemp("basemap") / "tiles"
    bounds = basemap.run_bounds(load_settings(DEMO_CONFIG).region_grid())
    features = basemap.build_basemap(out / "basemap.pmtiles", out / "gazetteer.json", out / "fonts", bounds)
    return out, features


@pytest.fixture(scope="module")
def tiles(built: tuple[Path, basemap.Basemap]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Zoom → layer → decoded features of every tile."""
    per_zoom: dict[int, dict[str, list[dict[str, Any]]]] = {}
    with (built[0] / "basemap.pmtiles").open("rb") as f:
        for (z, _, _), data in all_tiles(MmapSource(f)):
            for name, layer in mapbox_vector_tile.decode(gzip.decompress(data)).items():
                per_zoom.setdefault(z, {}).setdefault(name, []).extend(layer["features"])
    return per_zoom


def props(tiles: dict[int, dict[str, list[dict[str, Any]]]], z: int, layer: str) -> list[dict[str, Any]]:
    return [f["properties"] for f in tiles.get(z, {}).get(layer, [])]


def test_archive_has_every_zoom_and_the_four_layers(built: tuple[Path, basemap.Basemap], tiles: dict) -> None:
    with (built[0] / "basemap.pmtiles").open("rb") as f:
        reader = Reader(MmapSource(f))
        header, meta = reader.header(), reader.metadata()
    assert (header["min_zoom"], header["max_zoom"]) == (0, basemap.MAX_ZOOM)
    assert sorted(tiles) == list(range(basemap.MAX_ZOOM + 1))
    assert {layer["id"] for layer in meta["vector_layers"]} == LAYERS
    assert set(tiles[basemap.MAX_ZOOM]) == LAYERS
    corners = [header[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7")]
    assert corners == pytest.approx(built[1].bounds, abs=1e-6)


def test_areas_carry_the_contract_properties(tiles: dict) -> None:
    states = props(tiles, 5, "states")
    assert {"name": "California", "stusps": "CA", "geoid": "06"}.items() <= states[0].items()
    counties = {p["geoid"]: p for p in props(tiles, 8, "counties")}
    assert {"name": "Sonoma County", "geoid": "06097", "state": "CA"}.items() <= counties["06097"].items()
    assert {"name": "Marin County", "geoid": "06041", "state": "CA"}.items() <= counties["06041"].items()
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in tiles[8]["counties"])
    assert tiles[0]["land"] and tiles[0]["states"]


def test_counties_and_labels_start_at_their_minimum_zooms(tiles: dict) -> None:
    assert "counties" not in tiles[basemap.COUNTY_MIN_ZOOM - 1]
    assert props(tiles, basemap.COUNTY_MIN_ZOOM, "counties")
    for kind in ("state", "county", "town"):  # the demo window holds no capital
        min_zoom = basemap.LABEL_MIN_ZOOM[kind]
        shown = [z for z in tiles if any(p["kind"] == kind for p in props(tiles, z, "labels"))]
        assert shown == list(range(min_zoom, basemap.MAX_ZOOM + 1)), kind
    labels = {(p["name"], p["kind"]): p["rank"] for p in props(tiles, basemap.MAX_ZOOM, "labels")}
    assert labels[("Santa Rosa", "town")] == basemap.RANK["town"]
    assert labels[("Sonoma County", "county")] == basemap.RANK["county"]
    assert labels[("California", "state")] == 1


def test_every_label_kind_is_tiled_from_its_minimum_zoom(built: tuple[Path, basemap.Basemap]) -> None:
    capital = basemap.Label("Sacramento", "CA", "capital", -121.49, 38.58)
    features = built[1]
    features = basemap.Basemap(features.bounds, features.land, features.states, features.counties, (capital,))
    bands = basemap.zoom_bands()
    assert bands[0][0] == 0 and bands[-1][1] == basemap.MAX_ZOOM
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(bands))
    for zmin, zmax in bands:
        labels = [la for la in basemap.band_layers(features, zmin, zmax) if la["name"] == "labels"]
        assert bool(labels) == (zmin >= basemap.LABEL_MIN_ZOOM["capital"]), (zmin, zmax)
        assert all(la["min_zoom"] == zmin and la["max_zoom"] == zmax for la in labels)


def test_gazetteer_is_sorted_inside_the_bounds_and_names_the_demo_places(built: tuple[Path, basemap.Basemap]) -> None:
    out, features = built
    entries = json.loads((out / "gazetteer.json").read_text())
    names = {e["name"]: e for e in entries}
    assert names["Sonoma County, CA"]["kind"] == "county"
    assert names["Santa Rosa, CA"]["kind"] == "town"
    assert names["California"]["kind"] == "state"
    ranks = [basemap.RANK[e["kind"]] for e in entries]
    assert ranks == sorted(ranks) and ranks[0] == 1
    # Within a kind, larger areas first (the clipped areas: the window cuts most counties).
    by_size = sorted(features.counties, key=lambda a: -a.geometry.area)
    assert [e["name"] for e in entries if e["kind"] == "county"] == [f"{a.name}, {a.stusps}" for a in by_size]
    west, south, east, north = features.bounds
    for e in entries:
        assert west <= e["lon"] <= east and south <= e["lat"] <= north, e
        assert ("bbox" in e) == (e["kind"] in ("state", "county")), e
        if "bbox" in e:
            w, s, e_, n = e["bbox"]
            assert (
                west - 1e-5 <= w <= e["lon"] <= e_ <= east + 1e-5 and south - 1e-5 <= s <= e["lat"] <= n <= north + 1e-5
            )
    # Santa Rosa, CA lies in the demo window; Santa Rosa, NM does not.
    assert "Santa Rosa, NM" not in names


def test_the_area_is_cut_to_the_conterminous_us() -> None:
    conus = basemap.run_bounds(load_settings(CONUS_CONFIG).region_grid())
    west, south, east, north = basemap.conus_bounds()
    assert basemap.area_bounds(conus) == basemap.area_bounds(None) == (west, south, east, north)
    assert -125 < west < -124 and 24 < south < 25 and -67 < east < -66 and 49 < north < 50
    assert basemap.area_bounds((-150.0, 55.0, -140.0, 65.0)) is None  # Alaska
    demo = basemap.run_bounds(load_settings(DEMO_CONFIG).region_grid())
    assert basemap.area_bounds(demo) == demo


def test_bounds_outside_the_conus_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hold no part of the conterminous US"):
        basemap.build_basemap(
            tmp_path / "b.pmtiles", tmp_path / "g.json", tmp_path / "fonts", (-30.0, 0.0, -20.0, 10.0)
        )
    assert not (tmp_path / "b.pmtiles").exists()


def test_glyph_pbfs_decode_back_to_their_glyphs(built: tuple[Path, basemap.Basemap]) -> None:
    folder = built[0] / "fonts" / glyphs.FONT_FAMILY
    assert sorted(p.name for p in folder.iterdir()) == ["0-255.pbf", "256-511.pbf"]
    name, span, decoded = glyphs.decode_range((folder / "0-255.pbf").read_bytes())
    assert (name, span) == (glyphs.FONT_FAMILY, "0-255")
    assert decoded == glyphs.render_range(0)
    by_id = {g.id: g for g in decoded}
    assert {ord(c) for c in "Santa Rosa, CA Sonoma County é"} <= set(by_id)
    space, a = by_id[ord(" ")], by_id[ord("A")]
    assert space.bitmap == b"" and space.advance > 0
    pad = 2 * glyphs.BUFFER_PX
    sdf = np.frombuffer(a.bitmap, np.uint8).reshape(a.height + pad, a.width + pad)
    # The buffer's corner is far outside the glyph (low), its strokes inside (above the edge's 192).
    assert sdf[0, 0] < 64 and sdf.max() > 192
    # Tops are relative to the ascender: capitals share one, an x-height letter's is lower.
    assert a.top == by_id[ord("T")].top > by_id[ord("g")].top and a.advance > 0
    _, span, extended = glyphs.decode_range((folder / "256-511.pbf").read_bytes())
    assert span == "256-511" and 0x141 in {g.id for g in extended}  # ł


def test_negative_metrics_round_trip() -> None:
    drawn = glyphs.Glyph(id=300, bitmap=bytes(range(200, 256)), width=1, height=2, left=-3, top=-70000, advance=9)
    blank = glyphs.Glyph(id=301, bitmap=b"", width=0, height=0, left=0, top=5, advance=300)
    assert glyphs.decode_range(glyphs.encode_range("X", 256, [drawn, blank])) == ("X", "256-511", [drawn, blank])


STYLE_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script src="vendor/maplibre-gl.js"></script><script src="vendor/pmtiles.js"></script></head>
<body style="margin:0"><div id="map" style="width:800px;height:600px"></div><script>
window.errors = [];
maplibregl.addProtocol("pmtiles", new pmtiles.Protocol().tile);
const base = new URL(".", location.href).href;
window.map = new maplibregl.Map({container: "map", center: [-122.71, 38.44], zoom: 9, fadeDuration: 0,
  style: {version: 8, glyphs: base + "fonts/{fontstack}/{range}.pbf",
    sources: {b: {type: "vector", url: "pmtiles://" + base + "basemap.pmtiles"}},
    layers: [{id: "land", type: "fill", source: "b", "source-layer": "land", paint: {"fill-color": "#eee"}},
      {id: "counties", type: "line", source: "b", "source-layer": "counties"},
      {id: "labels", type: "symbol", source: "b", "source-layer": "labels",
       layout: {"text-field": ["get", "name"], "text-font": ["DejaVu Sans"], "text-size": 14}}]}});
map.on("error", e => window.errors.push(String(e.error && e.error.message || e)));
map.on("idle", () => { window.idle = true; });
</script></body></html>"""


@pytest.mark.browser
def test_maplibre_draws_labels_with_the_glyphs(built: tuple[Path, basemap.Basemap]) -> None:
    executable = chromium_executable()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or `make system-deps`)")
    out = built[0]
    shutil.copytree(Path(str(files("windrisk").joinpath("web/vendor"))), out / "vendor", dirs_exist_ok=True)
    (out / "glyph-check.html").write_text(STYLE_PAGE)
    server = make_server(out, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    browser = Chromium(executable)
    try:
        browser.open(server_url(server) + "glyph-check.html")
        browser.wait_for("window.idle === true")
        assert browser.evaluate("window.errors") == []
        drawn = browser.evaluate("map.queryRenderedFeatures({layers: ['labels']}).map(f => f.properties.name)")
        assert "Santa Rosa" in drawn
        assert any("/fonts/DejaVu%20Sans/0-255.pbf" in url for url in browser.requested_urls())
    finally:
        browser.close()
        server.shutdown()
        server.server_close()
