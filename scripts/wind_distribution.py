"""Snakemake wrapper: hourly surface fields → 8-band fire-weather wind-direction distribution."""

import logging

from windrisk.fireweather import derive_distribution

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO,  # noqa: F821
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
derive_distribution(snakemake.params.hourly, snakemake.output[0],  # noqa: F821
                    speed_unit=snakemake.params.speed_unit)  # noqa: F821
