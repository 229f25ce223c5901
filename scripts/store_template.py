"""Snakemake wrapper: create the Icechunk store and commit its template once."""

from windrisk.grid import RegionGrid
from windrisk.io import log_to, write_json_atomic
from windrisk.store import ensure_template

log_to(snakemake.log[0])  # noqa: F821
config = snakemake.params.config  # noqa: F821
info = ensure_template(config, RegionGrid.from_config(config["grid"]))
write_json_atomic(snakemake.output[0], info)  # noqa: F821
