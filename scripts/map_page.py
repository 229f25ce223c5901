"""Snakemake wrapper: the offline map page (and vendor/) beside the PMTiles."""

from typing import TYPE_CHECKING

from windrisk.grid import RegionGrid
from windrisk.io import job_logging
from windrisk.settings import TilesSettings, from_mapping
from windrisk.web import write_map_page

if TYPE_CHECKING:  # Snakemake defines `snakemake` in the script's preamble
    from snakemake.iocontainers import snakemake  # noqa: TC004

with job_logging(snakemake):
    write_map_page(
        snakemake.input[0],
        snakemake.output[0],
        from_mapping(TilesSettings, snakemake.params.tiles),
        grid=RegionGrid.from_config(snakemake.params.grid),
        region_ids=snakemake.params.regions,
    )
