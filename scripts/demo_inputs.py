"""Snakemake wrapper: write the synthetic demo inputs (rule demo_inputs)."""

from windrisk.demo import generate_demo_inputs
from windrisk.io import job_logging
from windrisk.settings import Settings

sm = snakemake  # noqa: F821
with job_logging(sm):
    generate_demo_inputs(Settings.for_job(sm.config, sm.params.config), dict(sm.output.items()))
