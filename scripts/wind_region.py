"""Snakemake wrapper: compute one region's wind-informed risk, commit it, write its sentinel."""

import numba

from windrisk.io import job_logging
from windrisk.settings import Settings
from windrisk.wind import distribution_location, region_job

sm = snakemake  # noqa: F821
with job_logging(sm):
    # Numba starts a thread per CPU it sees, which on a shared node is more than the job was given.
    numba.set_num_threads(min(sm.threads, numba.config.NUMBA_NUM_THREADS))
    settings = Settings.for_job(sm.config, sm.params.config)
    wind = distribution_location(settings, sm.input.get("wind"))
    region_job(settings, sm.wildcards.region_id, wind, sm.input.checked, sm.params.code_version, sm.output[0])
