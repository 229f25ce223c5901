"""Snakemake wrapper: check one group of inputs, write its report (rule check_inputs)."""

from windrisk.inputs import run_check
from windrisk.io import job_logging
from windrisk.settings import Settings

sm = snakemake  # noqa: F821
with job_logging(sm):
    run_check(
        Settings.of(sm.config),
        sm.wildcards.group,
        sm.wildcards.digest,
        sm.params.identities,
        sm.params.data_regions,
        target=sm.output[0],
    )
