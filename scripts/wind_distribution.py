"""Snakemake wrapper: hourly surface fields → 8-band fire-weather wind-direction distribution,
computed on the Dask cluster of the config's `dask` section."""

from windrisk.config import resolve_config
from windrisk.fireweather_dask import wind_distribution
from windrisk.io import log_to

if __name__ == "__main__":  # Dask's spawned worker processes re-import this file
    log_to(snakemake.log[0])  # noqa: F821
    # From config, not params: where the work runs, or where the unchanged input now lives, must
    # not make Snakemake re-run the rule (the input's identity is in the check file's name).
    config = resolve_config(snakemake.config)  # noqa: F821
    hourly = config["inputs"]["wind"]["hourly"]
    wind_distribution(hourly, snakemake.output[0], dask_settings=config["dask"],  # noqa: F821
                      speed_unit=snakemake.params.speed_unit,  # noqa: F821
                      threads=snakemake.threads)  # noqa: F821
