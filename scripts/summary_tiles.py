"""Snakemake wrapper: the county and state summaries as the map's choropleth PMTiles."""

from typing import TYPE_CHECKING

from windrisk.choropleth import build_summary_pmtiles
from windrisk.io import job_logging

if TYPE_CHECKING:  # Snakemake defines `snakemake` in the script's preamble
    from snakemake.iocontainers import snakemake  # noqa: TC004

with job_logging(snakemake):
    build_summary_pmtiles(snakemake.input.states, snakemake.input.counties, snakemake.output[0])
