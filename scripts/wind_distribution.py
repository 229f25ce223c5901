"""Snakemake wrapper: hourly surface fields → 8-band fire-weather wind-direction distribution."""

from windrisk.fireweather import derive_distribution
from windrisk.io import log_to

log_to(snakemake.log[0])  # noqa: F821
derive_distribution(snakemake.params.hourly, snakemake.output[0],  # noqa: F821
                    speed_unit=snakemake.params.speed_unit)  # noqa: F821
