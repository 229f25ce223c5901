"""Snakemake wrapper: one region's buildings with their risk values (rule buildings_region)."""

from windrisk.buildings import write_region_buildings
from windrisk.config import resolve_config
from windrisk.inputs import for_job, read_check
from windrisk.io import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm) as log:
    rid = sm.wildcards.region_id
    cfg = for_job(resolve_config(sm.config), sm.params.config)
    census = read_check(sm.input.checked)["inputs"]["buildings"]["summary"]
    account = write_region_buildings(
        cfg, rid, sm.input.sentinel, sm.output[0], location=cfg["inputs"]["buildings"], census=census
    )
    log.info("region %s: %s", rid, account)
