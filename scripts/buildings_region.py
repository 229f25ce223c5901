"""Snakemake wrapper: one region's buildings with their risk values (rule buildings_region)."""

import logging

from windrisk.buildings import write_region_buildings
from windrisk.config import resolve_config
from windrisk.inputs import for_job, read_check
from windrisk.io import log_to

log_to(snakemake.log[0])  # noqa: F821
sm, rid = snakemake, snakemake.wildcards.region_id  # noqa: F821
cfg = for_job(resolve_config(sm.config), sm.params.config)
census = read_check(sm.input.checked)["inputs"]["buildings"]["summary"]
account = write_region_buildings(cfg, rid, sm.input.sentinel, sm.output[0], location=cfg["inputs"]["buildings"], census=census)
logging.getLogger("windrisk.buildings_region").info("region %s: %s", rid, account)
