"""Snakemake wrapper: all regions mosaicked, decimated, for the report."""

from typing import TYPE_CHECKING

from windrisk.io import job_logging
from windrisk.report import overview
from windrisk.settings import Settings

if TYPE_CHECKING:  # Snakemake defines `snakemake` in the script's preamble
    from snakemake.iocontainers import snakemake  # noqa: TC004

with job_logging(snakemake):
    settings = Settings.for_job(snakemake.config, snakemake.params.config)
    sentinels = dict(zip(snakemake.params.regions, snakemake.input, strict=True))
    overview(settings, settings.region_grid(), sentinels, snakemake.output[0])
