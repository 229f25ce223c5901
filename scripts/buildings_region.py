"""Snakemake wrapper: one region's buildings with their risk values (rule buildings_region)."""

import logging

from windrisk.buildings import write_region_buildings
from windrisk.io import log_to

log_to(snakemake.log[0])  # noqa: F821
rid = snakemake.wildcards.region_id  # noqa: F821
n = write_region_buildings(snakemake.params.config, rid, snakemake.input.sentinel, snakemake.output[0])  # noqa: F821
logging.getLogger("windrisk.buildings_region").info("region %s: %d buildings written to %s", rid, n, snakemake.output[0])  # noqa: F821
