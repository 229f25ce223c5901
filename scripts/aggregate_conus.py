"""Snakemake wrapper: every region's building file → one CONUS GeoParquet (rule aggregate_conus),
and the accounting of every input row (written, dropped by reason, outside the grid)."""

from windrisk.aggregate import accounting, aggregate
from windrisk.inputs import read_check
from windrisk.io import job_logging, write_json_atomic
from windrisk.settings import Settings

sm = snakemake  # noqa: F821
with job_logging(sm) as log:
    summary = accounting(sm.input.regions, read_check(sm.input.checked)["inputs"]["buildings"]["summary"])
    row_group_size = Settings.for_job(sm.config, sm.params.config).buildings.row_group_size
    n = aggregate(list(sm.input.regions), sm.output.buildings, row_group_size)
    write_json_atomic(sm.output.accounting, summary)
    log.info("%d buildings from %d region files; %s", n, len(sm.input.regions), summary)
