"""Snakemake wrapper: write the synthetic demo inputs (rule demo_inputs)."""

from windrisk.demo import generate_demo_inputs
from windrisk.io import log_to

log_to(snakemake.log[0])  # noqa: F821
generate_demo_inputs(snakemake.params.config, dict(snakemake.output.items()))  # noqa: F821
