"""Snakemake wrapper: create the Icechunk store and commit its template once."""

from windrisk.io import job_logging, write_json_atomic
from windrisk.settings import Settings
from windrisk.store import ensure_template

sm = snakemake  # noqa: F821
with job_logging(sm):
    settings = Settings.for_job(sm.config, sm.params.config)
    info = ensure_template(settings, settings.region_grid())
    write_json_atomic(sm.output[0], info)
