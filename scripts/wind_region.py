"""Snakemake wrapper: compute one region's wind-informed risk, commit it, write its sentinel."""

from windrisk.config import resolve_config
from windrisk.inputs import for_job
from windrisk.io import log_to
from windrisk.wind import distribution_location, region_job

log_to(snakemake.log[0])  # noqa: F821
sm = snakemake  # noqa: F821
cfg = for_job(resolve_config(sm.config), sm.params.config)
wind = distribution_location(cfg, sm.input.get("wind"))
region_job(cfg, sm.wildcards.region_id, wind, sm.input.checked, sm.params.code_version, sm.output[0])
