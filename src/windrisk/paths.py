"""Where every output lands, decided in one place for the Snakefile, the scripts and the CLI.

Patterns keep ``{region_id}`` as a Snakemake wildcard; ``RunPaths.region(...)`` fills it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from windrisk.settings import DemoSettings

# The demo inputs under ``demo.dir`` (the real products' names); keys as windrisk.demo.OUTPUT_KEYS.
DEMO_LAYOUT: Final = {
    "bp_2011": "riley2025/BP_2011ClimateRun.tif",
    "bp_2047": "riley2025/BP_2047ClimateRun.tif",
    "crps": "scott2024/CRPS.tif",
    "rps": "scott2024/RPS.tif",
    "wind": "conus404/hourly_surface.zarr",
    "buildings": "overture/buildings.parquet",
    "states": "census/cb_2023_us_state_500k.zip",
    "counties": "census/cb_2023_us_county_500k.zip",
}


def demo_outputs(demo: DemoSettings) -> dict[str, str]:
    """Where the demo inputs go: always under ``demo.dir``, whatever ``inputs`` says, so a
    mistyped input path is reported missing, never generated."""
    root = Path(demo.dir)
    return {name: str(root / relative) for name, relative in DEMO_LAYOUT.items()}


def produced_inputs(demo: DemoSettings | None) -> dict[str, str]:
    """Location → ``"demo_inputs"`` for each file the demo rule makes (none without ``demo``)."""
    if demo is None:
        return {}
    return {location: "demo_inputs" for location in demo_outputs(demo).values()}


@dataclass(frozen=True)
class RunPaths:
    results: str

    def _p(self, *parts: str) -> str:
        return str(Path(self.results, *parts))

    # Checked inputs: one report per group and identity digest (see windrisk.inputs).
    @property
    def input_check_pattern(self) -> str:
        return self._p("inputs", "{group}-{digest}.json")

    def input_check(self, group: str, digest: str) -> str:
        return self.input_check_pattern.format(group=group, digest=digest)

    @property
    def identity_cache(self) -> str:
        return self._p("inputs", "identity-cache.json")

    # Step 1: wind calc → Icechunk store (the store itself is not a Snakemake output).
    @property
    def wind_distribution(self) -> str:
        return self._p("wind", "wind_direction_distribution.tif")

    @property
    def store_template(self) -> str:
        return self._p("store", "template.json")

    @property
    def region_sentinel_pattern(self) -> str:
        return self._p("store", "regions", "{region_id}.json")

    # Step 2: building-centroid risk per region.
    @property
    def region_buildings_pattern(self) -> str:
        return self._p("regions", "{region_id}.parquet")

    # Step 3 and 4: CONUS GeoParquet and PMTiles, plus the map page beside them.
    @property
    def conus_buildings(self) -> str:
        return self._p("conus", "buildings.parquet")

    @property
    def buildings_accounting(self) -> str:
        return self._p("conus", "buildings_accounting.json")

    # Regional summaries of the CONUS GeoParquet (windrisk.summaries).
    @property
    def county_summaries(self) -> str:
        return self._p("summaries", "counties.parquet")

    @property
    def county_summaries_csv(self) -> str:
        return self._p("summaries", "counties.csv")

    @property
    def state_summaries(self) -> str:
        return self._p("summaries", "states.parquet")

    @property
    def state_summaries_csv(self) -> str:
        return self._p("summaries", "states.csv")

    @property
    def summaries_accounting(self) -> str:
        return self._p("summaries", "accounting.json")

    @property
    def pmtiles(self) -> str:
        return self._p("tiles", "buildings.pmtiles")

    @property
    def summary_pmtiles(self) -> str:
        """The county and state summaries as the map's choropleth (windrisk.tiles)."""
        return self._p("tiles", "summaries.pmtiles")

    @property
    def map_page(self) -> str:
        return self._p("tiles", "index.html")

    # The offline basemap beside them (windrisk.basemap): tiles, search index, label glyphs.
    @property
    def basemap_pmtiles(self) -> str:
        return self._p("tiles", "basemap.pmtiles")

    @property
    def gazetteer(self) -> str:
        return self._p("tiles", "gazetteer.json")

    @property
    def fonts_dir(self) -> str:
        return self._p("tiles", "fonts")

    @property
    def report_dir(self) -> str:
        return self._p("report")

    def log(self, rule: str, name: str = "{region_id}") -> str:
        return self._p("logs", rule, f"{name}.log")

    def benchmark(self, rule: str, name: str = "{region_id}") -> str:
        return self._p("benchmarks", rule, f"{name}.tsv")

    def region(self, pattern: str, region_id: str) -> str:
        return pattern.format(region_id=region_id)
