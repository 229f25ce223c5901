"""Snakemake wrapper: one region's buildings with their risk values (rule buildings_region)."""

from windrisk.buildings import write_region_buildings
from windrisk.inputs import read_check
from windrisk.io import job_logging
from windrisk.settings import Settings

sm = snakemake  # noqa: F821
with job_logging(sm) as log:
    rid = sm.wildcards.region_id
    settings = Settings.for_job(sm.config, sm.params.config)
    census = read_check(sm.input.checked)["inputs"]["buildings"]["summary"]
    account = write_region_buildings(
        settings, rid, sm.input.sentinel, sm.output[0], location=settings.inputs.buildings, census=census
    )
    log.info("region %s: %s", rid, account)
