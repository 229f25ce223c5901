// The windrisk map: buildings from the PMTiles beside this page, coloured by the 0-10 score of
// the chosen climate run, over an optional basemap, regional summaries and a place search.
// Every file it loads sits beside this page (config written by windrisk.web) unless the config
// names a remote basemap style.
/* global maplibregl, pmtiles */
"use strict";

const CONFIG = JSON.parse(document.getElementById("windrisk-config").textContent);
const BACKGROUND = "#d9dde3";
const SEA = "#b8d2e6";
const NO_DATA = CONFIG.no_data_colour;
const LEGEND = CONFIG.score_legend;
// Summaries: states up to this zoom, counties from it; buildings replace counties at z9-10.
const STATES_MAX_ZOOM = 5;
const BUILDINGS_FADE = [9, 10];
const SUMMARY_LAYERS = ["summary-states", "summary-counties"];
const RUNS = CONFIG.climate_runs;

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
}

function scoreExpr(attribute) {
  // Null scores (no value) become -1 and take the no-data colour.
  const expr = ["step", ["coalesce", ["get", attribute], -1], NO_DATA];
  LEGEND.forEach((row) => expr.push(row.score, row.colour));
  return expr;
}

function scoreWords(score) {
  const row = LEGEND[score];
  return row ? row.words : "";
}

function status(text) {
  document.getElementById("status").textContent = text;
}

function buildLegend() {
  const rows = LEGEND.slice().reverse().map((r) =>
    `<tr><td><span class="swatch" style="background:${r.colour}"></span></td><td>${r.score}</td>` +
    `<td class="bins">${escapeHtml(r.bins)}</td><td>${escapeHtml(r.words)}</td></tr>`);
  rows.push(`<tr><td><span class="swatch" style="background:${NO_DATA}"></span></td><td colspan="3">no data</td></tr>`);
  document.getElementById("legend").innerHTML =
    `<table><thead><tr><th></th><th>Score</th><th>RPS</th><th></th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function buildRunSwitch(initial) {
  const box = document.getElementById("climate-run");
  for (const run of RUNS) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="radio" name="run" value="${run}"> ${run}`;
    const input = label.querySelector("input");
    input.checked = run === initial;
    input.addEventListener("change", () => setClimateRun(run));
    box.appendChild(label);
  }
}

function setupPanel() {
  const panel = document.getElementById("panel");
  const toggle = document.getElementById("panel-toggle");
  toggle.addEventListener("click", () => {
    const open = panel.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Close" : "Legend";
  });
  if (CONFIG.method) {
    const link = document.getElementById("method-link");
    link.querySelector("a").href = CONFIG.method;
    link.hidden = false;
  }
}

function setClimateRun(run) {
  if (!RUNS.includes(run)) throw new Error(`unknown climate run ${run}`);
  window.climateRun = run;
  const map = window.map;
  if (map.getLayer("buildings")) {
    map.setPaintProperty("buildings", "circle-color", scoreExpr("score_" + run));
    // Higher scores drawn on top, so dense clusters show their worst buildings.
    map.setLayoutProperty("buildings", "circle-sort-key", ["coalesce", ["get", "score_" + run], -1]);
  }
  for (const id of SUMMARY_LAYERS) {
    if (map.getLayer(id)) map.setPaintProperty(id, "fill-color", scoreExpr("median_score_" + run));
  }
  for (const input of document.querySelectorAll("#climate-run input")) input.checked = input.value === run;
}

// ---- popups ------------------------------------------------------------------------------
function formatNumber(value, unit) {
  if (value === undefined || value === null || Number.isNaN(value)) return "no data";
  if (typeof value !== "number") return escapeHtml(value);
  const text = Number.isInteger(value) ? String(value) : Number(value.toPrecision(3)).toString();
  return unit ? `${text} ${escapeHtml(unit)}` : text;
}

function formatScore(value) {
  if (value === undefined || value === null) return "no data";
  return `${value} (${escapeHtml(scoreWords(value))})`;
}

function regionAt(lon, lat) {
  if (!CONFIG.regions) return null;
  for (const f of CONFIG.regions.features) {
    const ring = f.geometry.coordinates[0];
    const xs = ring.map((p) => p[0]), ys = ring.map((p) => p[1]);
    // Half-open pixel edges, as region ownership is defined.
    if (lon >= Math.min(...xs) && lon < Math.max(...xs) && lat >= Math.min(...ys) && lat < Math.max(...ys)) {
      return f.properties.region_id;
    }
  }
  return null;
}

function runTable(rows) {
  const head = `<tr><th class="label"></th>${RUNS.map((r) => `<th>${r}</th>`).join("")}</tr>`;
  const body = rows.map(([label, cells]) =>
    `<tr><td class="label">${escapeHtml(label)}</td>${cells.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
  return `<table>${head}${body}</table>`;
}

function buildingPopupHtml(props, lngLat) {
  const rows = ["rps", "bp", "score"].map((v) => [
    CONFIG.popup_labels[v],
    RUNS.map((run) => v === "score" ? formatScore(props["score_" + run]) : formatNumber(props[`${v}_${run}`], CONFIG.units[`${v}_${run}`])),
  ]);
  const id = props.id === undefined || props.id === null ? "" : String(props.id);
  const shortId = id.length > 10 ? id.slice(0, 8) + "…" : id;
  const region = regionAt(lngLat.lng, lngLat.lat);
  const method = CONFIG.method ? `<p class="meta"><a href="${escapeHtml(CONFIG.method)}" target="_blank" rel="noopener">How these are computed</a></p>` : "";
  return `<div class="popup building"><h2>Building</h2>${runTable(rows)}` +
    `<p class="meta">Location: ${lngLat.lat.toFixed(5)}, ${lngLat.lng.toFixed(5)} (lat, lon)</p>` +
    (region ? `<p class="meta">Region: ${escapeHtml(region)}</p>` : "") +
    `<p class="meta">Building id: <code title="${escapeHtml(id)}">${escapeHtml(shortId)}</code>` +
    `<button type="button" class="copy-id" data-id="${escapeHtml(id)}">Copy</button></p>${method}</div>`;
}

function areaPopupHtml(props) {
  const total = props.n_buildings;
  const rows = [
    ["Median score", RUNS.map((r) => formatScore(props["median_score_" + r]))],
    ["Risk to potential structures, 90th percentile", RUNS.map((r) => formatNumber(props["p90_rps_" + r], "%"))],
    ["Buildings with no data", RUNS.map((r) => total ? `${Number((100 * props["n_no_data_" + r] / total).toPrecision(2))} %` : "no data")],
  ];
  return `<div class="popup area"><h2>${escapeHtml(props.name)}</h2>` +
    `<p class="meta">Buildings: ${formatNumber(total)}</p>${runTable(rows)}</div>`;
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Clipboard API refused (not a secure context): copy through a selected text area.
    const area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "Copied";
}

function openPopup(map, lngLat, html) {
  const popup = new maplibregl.Popup({maxWidth: "340px"}).setLngLat(lngLat).setHTML(html).addTo(map);
  const button = popup.getElement().querySelector(".copy-id");
  if (button) button.addEventListener("click", () => copyText(button.dataset.id, button));
  return popup;
}

function onClick(map, e) {
  const buildings = map.getLayer("buildings") ? map.queryRenderedFeatures(e.point, {layers: ["buildings"]}) : [];
  if (buildings.length && map.getZoom() >= (CONFIG.summaries ? BUILDINGS_FADE[0] : 0)) {
    const f = buildings[0];
    const [lng, lat] = f.geometry.coordinates;
    openPopup(map, {lng, lat}, buildingPopupHtml(f.properties, {lng, lat}));
    return;
  }
  const layers = SUMMARY_LAYERS.filter((id) => map.getLayer(id));
  const areas = layers.length ? map.queryRenderedFeatures(e.point, {layers}) : [];
  if (areas.length) openPopup(map, e.lngLat, areaPopupHtml(areas[0].properties));
}

// ---- style ---------------------------------------------------------------------------------
function offlineBasemap(basemap) {
  // The basemap contract: layers land, states, counties, labels (docs/architecture.md).
  const src = "basemap";
  const layers = [
    {id: "background", type: "background", paint: {"background-color": SEA}},
    {id: "land", type: "fill", source: src, "source-layer": "land", paint: {"fill-color": "#eeece6"}},
    {id: "county-lines", type: "line", source: src, "source-layer": "counties", minzoom: 6,
      paint: {"line-color": "#b9b4aa", "line-width": 0.6}},
    {id: "state-lines", type: "line", source: src, "source-layer": "states",
      paint: {"line-color": "#8a857c", "line-width": ["interpolate", ["linear"], ["zoom"], 3, 0.6, 8, 1.6]}},
  ];
  if (basemap.glyphs) {
    const text = (size) => ({"text-field": ["get", "name"], "text-font": ["DejaVu Sans"], "text-size": size});
    const paint = {"text-color": "#333", "text-halo-color": "rgba(255,255,255,0.85)", "text-halo-width": 1.2};
    layers.push(
      {id: "labels-states", type: "symbol", source: src, "source-layer": "labels", maxzoom: 7,
        filter: ["==", ["get", "kind"], "state"], layout: text(13), paint},
      {id: "labels-counties", type: "symbol", source: src, "source-layer": "labels", minzoom: 7,
        filter: ["==", ["get", "kind"], "county"], layout: text(11), paint: {...paint, "text-color": "#6a6458"}},
      // Towns and capitals: the most important (rank 1) first, the rest as zoom allows.
      {id: "labels-towns", type: "symbol", source: src, "source-layer": "labels",
        filter: ["all", ["in", ["get", "kind"], ["literal", ["capital", "town"]]],
          ["<=", ["coalesce", ["get", "rank"], 99], ["step", ["zoom"], 1, 5, 2, 7, 4, 9, 99]]],
        layout: {...text(12), "symbol-sort-key": ["coalesce", ["get", "rank"], 99]}, paint},
    );
  }
  return {
    version: 8,
    ...(basemap.glyphs ? {glyphs: new URL(basemap.glyphs, location.href).href.replace("%7Bfontstack%7D", "{fontstack}").replace("%7Brange%7D", "{range}")} : {}),
    sources: {[src]: {type: "vector", url: "pmtiles://" + new URL(basemap.pmtiles, location.href).href}},
    layers,
  };
}

function baseStyle() {
  const basemap = CONFIG.basemap;
  if (basemap && basemap.style) return new URL(basemap.style, location.href).href;
  if (basemap && basemap.pmtiles) return offlineBasemap(basemap);
  return {version: 8, sources: {}, layers: [{id: "background", type: "background", paint: {"background-color": BACKGROUND}}]};
}

function addWindriskLayers(map, tilesUrl, run) {
  const fade = CONFIG.summaries !== null && CONFIG.summaries !== undefined;
  if (fade) {
    map.addSource("summaries", {type: "vector", url: "pmtiles://" + new URL(CONFIG.summaries, location.href).href});
    const opacity = (from, to) => ["interpolate", ["linear"], ["zoom"], from[0], from[1], to[0], to[1]];
    map.addLayer({id: "summary-states", type: "fill", source: "summaries", "source-layer": "states",
      maxzoom: STATES_MAX_ZOOM, paint: {"fill-color": scoreExpr("median_score_" + run), "fill-opacity": 0.75,
        "fill-outline-color": "#ffffff"}});
    map.addLayer({id: "summary-counties", type: "fill", source: "summaries", "source-layer": "counties",
      minzoom: STATES_MAX_ZOOM, maxzoom: BUILDINGS_FADE[1],
      paint: {"fill-color": scoreExpr("median_score_" + run), "fill-outline-color": "#ffffff",
        "fill-opacity": opacity([BUILDINGS_FADE[0], 0.75], [BUILDINGS_FADE[1], 0])}});
  }
  if (CONFIG.regions) {
    map.addSource("regions", {type: "geojson", data: CONFIG.regions});
    map.addLayer({id: "regions", type: "line", source: "regions",
      paint: {"line-color": "#55606e", "line-width": 1, "line-dasharray": [3, 2]}});
  }
  map.addSource("buildings", {type: "vector", url: "pmtiles://" + tilesUrl});
  // With summaries, buildings fade in while the counties fade out.
  const shown = fade ? ["interpolate", ["linear"], ["zoom"], BUILDINGS_FADE[0], 0, BUILDINGS_FADE[1], 1] : 1;
  map.addLayer({
    id: "buildings", type: "circle", source: "buildings", "source-layer": CONFIG.layer,
    ...(fade ? {minzoom: BUILDINGS_FADE[0]} : {}),
    paint: {
      "circle-color": scoreExpr("score_" + run),
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 0, 1.5, 8, 2.5, 12, 4, 16, 8],
      "circle-stroke-color": "rgba(0, 0, 0, 0.35)",
      "circle-stroke-width": ["interpolate", ["linear"], ["zoom"], 10, 0, 13, 0.5],
      "circle-opacity": shown,
      "circle-stroke-opacity": shown,
    },
  });
}

// ---- search --------------------------------------------------------------------------------
const KIND_ORDER = {state: 0, county: 1, capital: 2, town: 3};
let gazetteer = null;

async function loadGazetteer() {
  if (gazetteer || !CONFIG.gazetteer) return gazetteer || [];
  const response = await fetch(CONFIG.gazetteer);
  if (!response.ok) throw new Error(`${CONFIG.gazetteer}: HTTP ${response.status}`);
  gazetteer = (await response.json()).map((p) => ({...p, key: p.name.toLowerCase()}));
  return gazetteer;
}

function parseCoordinates(text) {
  const m = text.trim().match(/^([-+]?\d+(?:\.\d+)?)\s*[,;\s]\s*([-+]?\d+(?:\.\d+)?)$/);
  if (!m) return null;
  const a = Number(m[1]), b = Number(m[2]);
  if (Math.abs(a) <= 90 && Math.abs(b) <= 180) return {lat: a, lon: b};
  // "lon, lat" only when it cannot be read as "lat, lon".
  if (Math.abs(a) <= 180 && Math.abs(b) <= 90) return {lat: b, lon: a};
  return null;
}

function matchPlaces(text, limit = 8) {
  const q = text.trim().toLowerCase();
  if (!q || !gazetteer) return [];
  const scored = [];
  for (const place of gazetteer) {
    let rank;
    if (place.key === q) rank = 0;
    else if (place.key.startsWith(q)) rank = 1;
    else if (place.key.split(/[^a-z0-9]+/).some((w) => w && w.startsWith(q)) || place.key.includes(" " + q)) rank = 2;
    else continue;
    scored.push([rank, KIND_ORDER[place.kind] ?? 9, place.name.length, place]);
  }
  scored.sort((x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2]);
  return scored.slice(0, limit).map((s) => s[3]);
}

function flyTo(place) {
  const map = window.map;
  if (place.bbox && place.bbox.length === 4) {
    map.fitBounds([[place.bbox[0], place.bbox[1]], [place.bbox[2], place.bbox[3]]], {padding: 40, maxZoom: 13, duration: 800});
  } else {
    map.flyTo({center: [place.lon, place.lat], zoom: 11, duration: 800});
  }
}

function searchMessage(text) {
  document.getElementById("search-message").textContent = text;
}

async function searchPlace(text) {
  const coords = parseCoordinates(text);
  if (coords) {
    flyTo(coords);
    searchMessage("");
    return {kind: "coordinates", name: `${coords.lat}, ${coords.lon}`, lon: coords.lon, lat: coords.lat};
  }
  await loadGazetteer();
  const [first] = matchPlaces(text, 1);
  if (!first) {
    searchMessage(text.trim() ? `No place matches "${text.trim()}". Try a county, state or town name, or "lat, lon".` : "");
    return null;
  }
  flyTo(first);
  searchMessage("");
  return {kind: first.kind, name: first.name, lon: first.lon, lat: first.lat};
}

function setupSearch() {
  const form = document.getElementById("search");
  const input = document.getElementById("search-input");
  const list = document.getElementById("suggestions");
  form.hidden = false;
  const clear = () => { list.innerHTML = ""; };
  input.addEventListener("input", async () => {
    searchMessage("");
    try {
      await loadGazetteer();
    } catch (err) {
      searchMessage(`Place search unavailable (${err.message})`);
      return;
    }
    const matches = parseCoordinates(input.value) ? [] : matchPlaces(input.value);
    list.innerHTML = matches.map((p, i) =>
      `<li role="option" data-i="${i}" aria-selected="${i === 0}">${escapeHtml(p.name)}<span class="kind">${escapeHtml(p.kind)}</span></li>`).join("");
    list.querySelectorAll("li").forEach((li, i) => li.addEventListener("mousedown", (ev) => {
      ev.preventDefault();
      input.value = matches[i].name;
      clear();
      flyTo(matches[i]);
    }));
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    clear();
    searchPlace(input.value);
  });
  input.addEventListener("blur", () => setTimeout(clear, 150));
}

// ---- start ---------------------------------------------------------------------------------
async function main() {
  buildLegend();
  setupPanel();
  const params = new URLSearchParams(location.search);
  const initialRun = RUNS.includes(params.get("run")) ? params.get("run") : RUNS[0];
  buildRunSwitch(initialRun);
  if (CONFIG.gazetteer) setupSearch();

  const protocol = new pmtiles.Protocol();
  maplibregl.addProtocol("pmtiles", protocol.tile);
  const tilesUrl = new URL(CONFIG.pmtiles, location.href).href;
  const archive = new pmtiles.PMTiles(tilesUrl);
  protocol.add(archive);
  let bounds = [[CONFIG.bounds[0], CONFIG.bounds[1]], [CONFIG.bounds[2], CONFIG.bounds[3]]];
  try {
    const h = await archive.getHeader();
    bounds = [[h.minLon, h.minLat], [h.maxLon, h.maxLat]];
  } catch (err) {
    status(`Cannot read ${CONFIG.pmtiles} (${err.message}). Open this page through "windrisk serve".`);
    throw err;
  }

  // Keep the buildings clear of the panel on wide screens.
  const panel = document.getElementById("panel").getBoundingClientRect();
  const wide = innerWidth > 2.5 * panel.width;
  const padding = wide ? {top: 30, bottom: 30, left: panel.right + 20, right: 60} : {top: 30, bottom: panel.height + 20, left: 30, right: 30};
  const map = new maplibregl.Map({
    container: "map", style: baseStyle(), bounds, maxZoom: 18,
    fitBoundsOptions: {padding}, attributionControl: false,
  });
  window.map = map;
  map.addControl(new maplibregl.NavigationControl({showCompass: false}), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-right");
  map.on("load", () => {
    addWindriskLayers(map, tilesUrl, initialRun);
    setClimateRun(initialRun);
    map.once("idle", () => { window.mapReady = true; });
  });
  map.on("error", (e) => status(`Map error: ${e.error && e.error.message}`));
  map.on("click", (e) => onClick(map, e));
  for (const id of ["buildings", ...SUMMARY_LAYERS]) {
    map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
  }
}

window.setClimateRun = setClimateRun;
window.searchPlace = searchPlace;
main();
