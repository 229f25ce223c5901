"""Snakemake wrapper: create the Icechunk store and commit its template once."""

from windrisk.grid import RegionGrid
from windrisk.io import job_logging, write_json_atomic
from windrisk.store import ensure_template

sm = snakemake  # noqa: F821
with job_logging(sm):
    config = sm.params.config
    info = ensure_template(config, RegionGrid.from_config(config["grid"]))
    write_json_atomic(sm.output[0], info)
