"""The public-domain map data bundled in ``windrisk/data`` (refreshed by scripts/vendor_web.sh).

* ``us-atlas-counties-10m.json``: the Census Bureau's 2017 cartographic county boundaries
  (1:10 M), as TopoJSON from the us-atlas package (ISC); states and the nation are merged from
  the counties, so the three share their edges.
* ``us-state-capitals.json``: the state capitals (USGS, public domain), from vega-datasets.
* ``airports.csv``: US airports with their city (FAA, a US government work), from vega-datasets;
  a town without a capital is placed at the mean position of its airports.

They back the offline basemap and its gazetteer (windrisk.basemap) and the demo's boundary files.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from windrisk.io import files_digest

# State FIPS code → (USPS code, name) for the states, DC and Puerto Rico.
STATES: dict[str, tuple[str, str]] = {
    "01": ("AL", "Alabama"), "02": ("AK", "Alaska"), "04": ("AZ", "Arizona"), "05": ("AR", "Arkansas"),
    "06": ("CA", "California"), "08": ("CO", "Colorado"), "09": ("CT", "Connecticut"), "10": ("DE", "Delaware"),
    "11": ("DC", "District of Columbia"), "12": ("FL", "Florida"), "13": ("GA", "Georgia"), "15": ("HI", "Hawaii"),
    "16": ("ID", "Idaho"), "17": ("IL", "Illinois"), "18": ("IN", "Indiana"), "19": ("IA", "Iowa"),
    "20": ("KS", "Kansas"), "21": ("KY", "Kentucky"), "22": ("LA", "Louisiana"), "23": ("ME", "Maine"),
    "24": ("MD", "Maryland"), "25": ("MA", "Massachusetts"), "26": ("MI", "Michigan"), "27": ("MN", "Minnesota"),
    "28": ("MS", "Mississippi"), "29": ("MO", "Missouri"), "30": ("MT", "Montana"), "31": ("NE", "Nebraska"),
    "32": ("NV", "Nevada"), "33": ("NH", "New Hampshire"), "34": ("NJ", "New Jersey"), "35": ("NM", "New Mexico"),
    "36": ("NY", "New York"), "37": ("NC", "North Carolina"), "38": ("ND", "North Dakota"), "39": ("OH", "Ohio"),
    "40": ("OK", "Oklahoma"), "41": ("OR", "Oregon"), "42": ("PA", "Pennsylvania"), "44": ("RI", "Rhode Island"),
    "45": ("SC", "South Carolina"), "46": ("SD", "South Dakota"), "47": ("TN", "Tennessee"), "48": ("TX", "Texas"),
    "49": ("UT", "Utah"), "50": ("VT", "Vermont"), "51": ("VA", "Virginia"), "53": ("WA", "Washington"),
    "54": ("WV", "West Virginia"), "55": ("WI", "Wisconsin"), "56": ("WY", "Wyoming"), "72": ("PR", "Puerto Rico"),
}  # fmt: skip
USPS_TO_FIPS: dict[str, str] = {usps: fips for fips, (usps, _) in STATES.items()}
# The conterminous US: the states and DC without Alaska, Hawaii and Puerto Rico.
CONUS_FIPS: frozenset[str] = frozenset(STATES) - {"02", "15", "72"}
# The bundled files (under windrisk/data): the inputs of rule basemap.
TOPOLOGY_FILE, CAPITALS_FILE, AIRPORTS_FILE = "us-atlas-counties-10m.json", "us-state-capitals.json", "airports.csv"
# Independent cities that are county equivalents outside Virginia (whose are all FIPS >= 500).
INDEPENDENT_CITIES: frozenset[str] = frozenset({"24510", "29510", "32510"})


@dataclass(frozen=True)
class Area:
    """A state or county: FIPS ``geoid`` (2 or 5 digits), Census-style name ('Sonoma County'),
    the bare name of the source data ('Sonoma'; a state's is its name), polygons in lon/lat."""

    geoid: str
    name: str
    stusps: str
    geometry: BaseGeometry
    short_name: str


@dataclass(frozen=True)
class Place:
    name: str
    stusps: str
    kind: str  # "capital" or "town"
    lon: float
    lat: float


def county_name(geoid: str, short_name: str) -> str:
    """The Census NAMELSAD of a county from its bare name: 'Sonoma' → 'Sonoma County'."""
    state = geoid[:2]
    if geoid in INDEPENDENT_CITIES or (state == "51" and int(geoid[2:]) >= 500):
        return short_name if short_name.lower().endswith("city") else f"{short_name} city"
    if state == "22":
        return f"{short_name} Parish"
    if state == "02":
        return short_name  # boroughs and census areas carry no uniform suffix
    if state == "11":
        return "District of Columbia"
    return f"{short_name} County"


def data_digest() -> str:
    """SHA-256 of the bundled files, for the basemap rule's params: refreshed data re-runs it."""
    return files_digest(files("windrisk").joinpath("data"), (TOPOLOGY_FILE, CAPITALS_FILE, AIRPORTS_FILE))


@cache
def topology() -> dict[str, Any]:
    return json.loads(files("windrisk").joinpath("data", TOPOLOGY_FILE).read_text())


@cache
def _arcs() -> tuple[np.ndarray, ...]:
    """Every arc in lon/lat: TopoJSON stores quantized deltas, undone by cumsum and the transform."""
    topo = topology()
    scale = np.asarray(topo["transform"]["scale"])
    translate = np.asarray(topo["transform"]["translate"])
    return tuple(np.cumsum(np.asarray(arc, dtype=np.float64), axis=0) * scale + translate for arc in topo["arcs"])


def _ring(arc_indices: Sequence[int]) -> np.ndarray:
    arcs = _arcs()
    parts = []
    for i, index in enumerate(arc_indices):
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]  # ~i: arc i reversed
        parts.append(arc if i == 0 else arc[1:])  # consecutive arcs share their joining point
    return np.concatenate(parts)


def _geometry(geom: dict[str, Any]) -> BaseGeometry:
    """A (multi)polygon; rings that quantization collapsed below 4 points (islets) are dropped."""
    polygons = []
    for arc_rings in [geom["arcs"]] if geom["type"] == "Polygon" else geom["arcs"]:
        shell, *holes = (_ring(r) for r in arc_rings)
        if len(shell) >= 4:
            polygons.append(shapely.Polygon(shell, [h for h in holes if len(h) >= 4]))
    parts = shapely.get_parts(shapely.make_valid(shapely.MultiPolygon(polygons)))
    # make_valid may return lines where a ring touched itself: keep the polygons only.
    return shapely.union_all(parts[np.isin(shapely.get_type_id(parts), (3, 6))])


def _objects(name: str) -> Iterator[dict[str, Any]]:
    yield from topology()["objects"][name]["geometries"]


def _nonempty(areas: Iterator[Area]) -> tuple[Area, ...]:
    return tuple(area for area in areas if not area.geometry.is_empty)


@cache
def states() -> tuple[Area, ...]:
    """The states, DC and Puerto Rico (territories without a USPS code here are left out)."""
    return _nonempty(
        Area(g["id"], STATES[g["id"]][1], STATES[g["id"]][0], _geometry(g), STATES[g["id"]][1])
        for g in _objects("states")
        if g["id"] in STATES
    )


@cache
def counties() -> tuple[Area, ...]:
    """Every county equivalent but those too small for 1:10 M (Falls Church city, VA)."""
    return _nonempty(
        Area(
            g["id"],
            county_name(g["id"], g["properties"]["name"]),
            STATES[g["id"][:2]][0],
            _geometry(g),
            g["properties"]["name"],
        )
        for g in _objects("counties")
        if g["id"][:2] in STATES
    )


@cache
def nation() -> BaseGeometry:
    return _geometry(next(_objects("nation")))


@cache
def places() -> tuple[Place, ...]:
    """State capitals, then every other airport town (at the mean of its airports), by state."""
    data = files("windrisk").joinpath("data")
    by_name = {name: usps for usps, name in STATES.values()}
    capitals = [
        Place(c["city"], by_name[c["state"]], "capital", float(c["lon"]), float(c["lat"]))
        for c in json.loads(data.joinpath(CAPITALS_FILE).read_text())
    ]
    taken = {(p.name, p.stusps) for p in capitals}
    airports: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    with data.joinpath(AIRPORTS_FILE).open(newline="") as f:
        for row in csv.DictReader(f):
            key = (row["city"].strip(), row["state"].strip())
            if key[0] and key[1] in USPS_TO_FIPS and key not in taken:
                airports[key].append((float(row["longitude"]), float(row["latitude"])))
    towns = [
        Place(city, usps, "town", float(np.mean([p[0] for p in pts])), float(np.mean([p[1] for p in pts])))
        for (city, usps), pts in sorted(airports.items())
    ]
    return tuple(capitals + towns)
