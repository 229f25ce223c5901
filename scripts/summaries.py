"""Snakemake wrapper: building risk per county and per state from the CONUS GeoParquet (rule summaries)."""

from windrisk.boundaries import load_boundaries
from windrisk.io import job_logging
from windrisk.settings import Settings
from windrisk.summaries import summarise

sm = snakemake  # noqa: F821
with job_logging(sm) as log:
    settings = Settings.for_job(sm.config, sm.params.config)
    counties, states = load_boundaries(settings, "counties"), load_boundaries(settings, "states")
    accounting = summarise(sm.input.buildings, counties, states, dict(sm.output.items()))
    log.info("summaries: %s", accounting)
