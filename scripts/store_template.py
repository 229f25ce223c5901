"""Snakemake wrapper: create the Icechunk store and commit its template once."""

import logging

from windrisk.grid import RegionGrid
from windrisk.io import write_json_atomic
from windrisk.store import ensure_template

logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")  # noqa: F821
config = snakemake.params.config  # noqa: F821
info = ensure_template(config, RegionGrid.from_config(config["grid"]))
write_json_atomic(snakemake.output[0], info)  # noqa: F821
