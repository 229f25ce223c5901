"""Snakemake wrapper: write the synthetic demo inputs (rule demo_inputs)."""

import logging

from windrisk.demo import generate_demo_inputs

smk = snakemake  # noqa: F821 - injected by Snakemake's script directive
fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
logging.basicConfig(filename=smk.log[0], level=logging.INFO, format=fmt)
generate_demo_inputs(smk.params.config, dict(smk.output.items()))
