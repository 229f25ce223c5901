"""Snakemake wrapper: check one group of inputs, write its report (rule check_inputs)."""

from windrisk.config import resolve_config
from windrisk.inputs import run_check
from windrisk.io import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm):
    run_check(
        resolve_config(sm.config),
        sm.wildcards.group,
        sm.wildcards.digest,
        sm.params.identities,
        sm.params.data_regions,
        target=sm.output[0],
    )
