"""Snakemake wrapper: one region's rps_2011 / rps_2047 quick-look for the report."""

from typing import TYPE_CHECKING

from windrisk.io import job_logging
from windrisk.report import quicklook_region
from windrisk.settings import Settings

if TYPE_CHECKING:  # Snakemake defines `snakemake` in the script's preamble
    from snakemake.iocontainers import snakemake  # noqa: TC004

with job_logging(snakemake):
    settings = Settings.for_job(snakemake.config, snakemake.params.config)
    quicklook_region(
        settings,
        settings.region_grid(),
        snakemake.wildcards.region_id,
        snakemake.input[0],
        snakemake.output[0],
    )
