"""Snakemake wrapper: the offline map page (vendor/, method.html) beside the PMTiles."""

from pathlib import Path
from typing import TYPE_CHECKING

from windrisk.grid import RegionGrid
from windrisk.io import job_logging
from windrisk.settings import TilesSettings, from_mapping
from windrisk.web import write_map_page

if TYPE_CHECKING:  # Snakemake defines `snakemake` in the script's preamble
    from snakemake.iocontainers import snakemake  # noqa: TC004


def optional(name: str) -> Path | None:
    """A named input of the rule, or None when the rule does not give it (feature off)."""
    value = snakemake.input.get(name)
    return Path(value) if value else None


with job_logging(snakemake):
    write_map_page(
        snakemake.input.pmtiles,
        snakemake.output[0],
        from_mapping(TilesSettings, snakemake.params.tiles),
        grid=RegionGrid.from_config(snakemake.params.grid),
        region_ids=snakemake.params.regions,
        method_md=optional("method"),
        basemap=optional("basemap"),
        gazetteer=optional("gazetteer"),
        summaries=optional("summaries"),
    )
