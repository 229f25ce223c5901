// The windrisk map: buildings from the PMTiles beside this page, coloured by the 0-10 score of
// the chosen climate run. No network beyond this folder: no basemap, fonts or sprites.
/* global maplibregl, pmtiles */
"use strict";

const CONFIG = JSON.parse(document.getElementById("windrisk-config").textContent);
const BACKGROUND = "#d9dde3";
const NO_DATA = "#8c8c8c";
// Score 0..10 (index = score): yellow to dark purple, readable on the light background.
const SCORE_COLOURS = [
  "#ffffb2", "#fee98a", "#fed266", "#feb24c", "#fd8d3c", "#fc6b30",
  "#f03b20", "#d7191c", "#b10026", "#800026", "#4d0036",
];

function scoreColour(run) {
  // Null scores (no risk value at the building) become -1 and take the no-data colour.
  const expr = ["step", ["coalesce", ["get", "score_" + run], -1], NO_DATA];
  SCORE_COLOURS.forEach((colour, score) => expr.push(score, colour));
  return expr;
}

function status(text) {
  document.getElementById("status").textContent = text;
}

function buildLegend() {
  const rows = SCORE_COLOURS.map((c, s) => [c, String(s)]).reverse();
  rows.push([NO_DATA, "no data"]);
  document.getElementById("legend").innerHTML = rows
    .map(([c, label]) => `<div class="row"><span class="swatch" style="background:${c}"></span>${label}</div>`)
    .join("");
}

function buildRunSwitch(initial) {
  const box = document.getElementById("climate-run");
  for (const run of CONFIG.climate_runs) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="radio" name="run" value="${run}"> ${run}`;
    const input = label.querySelector("input");
    input.checked = run === initial;
    input.addEventListener("change", () => setClimateRun(run));
    box.appendChild(label);
  }
}

function setClimateRun(run) {
  if (!CONFIG.climate_runs.includes(run)) throw new Error(`unknown climate run ${run}`);
  window.climateRun = run;
  const map = window.map;
  map.setPaintProperty("buildings", "circle-color", scoreColour(run));
  // Higher scores drawn on top, so dense clusters show their worst buildings.
  map.setLayoutProperty("buildings", "circle-sort-key", ["coalesce", ["get", "score_" + run], -1]);
  for (const input of document.querySelectorAll("#climate-run input")) input.checked = input.value === run;
}

function formatValue(name, value) {
  if (value === undefined || value === null) return "no data";
  if (typeof value !== "number" || Number.isInteger(value)) return String(value);
  const unit = CONFIG.units[name] ? " " + CONFIG.units[name] : "";
  return Number(value.toPrecision(3)).toString() + unit;
}

function popupHtml(props) {
  const rows = CONFIG.popup_fields
    .map((name) => `<tr><td>${name}</td><td>${formatValue(name, props[name])}</td></tr>`)
    .join("");
  return `<div class="popup"><table>${rows}</table></div>`;
}

function style(tilesUrl) {
  const sources = {buildings: {type: "vector", url: "pmtiles://" + tilesUrl}};
  const layers = [{id: "background", type: "background", paint: {"background-color": BACKGROUND}}];
  if (CONFIG.regions) {
    sources.regions = {type: "geojson", data: CONFIG.regions};
    layers.push({id: "regions", type: "line", source: "regions",
      paint: {"line-color": "#55606e", "line-width": 1, "line-dasharray": [3, 2]}});
  }
  layers.push({
    id: "buildings", type: "circle", source: "buildings", "source-layer": CONFIG.layer,
    paint: {
      "circle-color": scoreColour(CONFIG.climate_runs[0]),
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 0, 1.5, 8, 2.5, 12, 4, 16, 8],
      "circle-stroke-color": "rgba(0, 0, 0, 0.35)",
      "circle-stroke-width": ["interpolate", ["linear"], ["zoom"], 10, 0, 13, 0.5],
    },
  });
  return {version: 8, sources, layers};
}

async function main() {
  buildLegend();
  const params = new URLSearchParams(location.search);
  const initialRun = CONFIG.climate_runs.includes(params.get("run")) ? params.get("run") : CONFIG.climate_runs[0];
  buildRunSwitch(initialRun);

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
  const left = innerWidth > 2.5 * panel.width ? panel.right + 20 : 30;
  const map = new maplibregl.Map({
    container: "map", style: style(tilesUrl), bounds, maxZoom: 18,
    fitBoundsOptions: {padding: {top: 30, bottom: 30, left, right: 60}}, attributionControl: false,
  });
  window.map = map;
  map.addControl(new maplibregl.NavigationControl({showCompass: false}), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-right");
  map.on("load", () => setClimateRun(initialRun));
  map.once("idle", () => { window.mapReady = true; });
  map.on("error", (e) => status(`Map error: ${e.error && e.error.message}`));
  map.on("click", "buildings", (e) => {
    new maplibregl.Popup({maxWidth: "320px"}).setLngLat(e.lngLat).setHTML(popupHtml(e.features[0].properties)).addTo(map);
  });
  map.on("mouseenter", "buildings", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "buildings", () => { map.getCanvas().style.cursor = ""; });
}

window.setClimateRun = setClimateRun;
main();
