"""Snakemake wrapper: hourly surface fields → 8-band fire-weather wind-direction distribution,
computed on the Dask cluster of the config's `dask` section."""

from windrisk.fireweather_dask import wind_distribution
from windrisk.io import job_logging
from windrisk.settings import Settings

if __name__ == "__main__":  # Dask's spawned worker processes re-import this file
    sm = snakemake  # noqa: F821
    with job_logging(sm):
        # From config, not params: where the work runs, or where the unchanged input now lives, must
        # not make Snakemake re-run the rule (the input's identity is in the check file's name).
        settings = Settings.of(sm.config)
        wind_distribution(
            settings.inputs.wind.hourly,
            sm.output[0],
            dask_settings=settings.dask,
            speed_unit=sm.params.speed_unit,
            threads=sm.threads,
        )
