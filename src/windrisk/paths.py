"""Where every output lands, decided in one place for the Snakefile, the scripts and the CLI.

Patterns keep ``{region_id}`` as a Snakemake wildcard; ``RunPaths.region(...)`` fills it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    results: str

    def _p(self, *parts: str) -> str:
        return str(Path(self.results, *parts))

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
    def pmtiles(self) -> str:
        return self._p("tiles", "buildings.pmtiles")

    @property
    def map_page(self) -> str:
        return self._p("tiles", "index.html")

    @property
    def report_dir(self) -> str:
        return self._p("report")

    def log(self, rule: str, name: str = "{region_id}") -> str:
        return self._p("logs", rule, f"{name}.log")

    def benchmark(self, rule: str, name: str = "{region_id}") -> str:
        return self._p("benchmarks", rule, f"{name}.tsv")

    def region(self, pattern: str, region_id: str) -> str:
        return pattern.format(region_id=region_id)
