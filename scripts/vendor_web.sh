#!/usr/bin/env bash
# Refresh the map page's vendored browser libraries and the map data of src/windrisk/data/ from
# npm at the versions pinned in web/package.json (+ web/package-lock.json). The copies are
# committed so that building and viewing the map needs no network; run this only to upgrade:
#   edit web/package.json, then `bash scripts/vendor_web.sh` and commit the folders.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=src/windrisk/web/vendor
(cd web && npm ci --ignore-scripts --no-audit --no-fund)
mods=web/node_modules
mkdir -p "$dest"
cp "$mods/maplibre-gl/dist/maplibre-gl.js" "$dest/maplibre-gl.js"
cp "$mods/maplibre-gl/dist/maplibre-gl.css" "$dest/maplibre-gl.css"
cp "$mods/maplibre-gl/LICENSE.txt" "$dest/maplibre-gl.LICENSE.txt"
cp "$mods/pmtiles/dist/pmtiles.js" "$dest/pmtiles.js"
# The pmtiles npm package ships no licence file; ours is the upstream repository's LICENSE.
cp web/licenses/pmtiles-LICENSE.txt "$dest/pmtiles.LICENSE.txt"
node -e 'const l=require("./web/package-lock.json").packages;
  const deps=Object.keys(require("./web/package.json").dependencies);
  const v=Object.fromEntries(deps.map((d) => [d, l["node_modules/" + d].version]));
  require("fs").writeFileSync(process.argv[1], JSON.stringify(v, null, 1) + "\n")' "$dest/versions.json"
# Public-domain map data for the offline basemap, the gazetteer and the demo's boundaries
# (windrisk.usatlas): Census cartographic boundaries (us-atlas), USGS state capitals and FAA
# airports (vega-datasets).
data=src/windrisk/data
mkdir -p "$data"
cp "$mods/us-atlas/counties-10m.json" "$data/us-atlas-counties-10m.json"
cp "$mods/us-atlas/LICENSE" "$data/us-atlas.LICENSE.txt"
cp "$mods/vega-datasets/data/us-state-capitals.json" "$data/us-state-capitals.json"
cp "$mods/vega-datasets/data/airports.csv" "$data/airports.csv"
du -ch "$dest"/* "$data"/* | tail -1
