"""Snakemake wrapper: the buildings accounting as an HTML table for the run report."""

import json
from pathlib import Path

from windrisk.io import job_logging
from windrisk.report import accounting_rows, write_html_table

sm = snakemake  # noqa: F821
with job_logging(sm):
    rows = accounting_rows(json.loads(Path(sm.input[0]).read_text()))
    write_html_table(["what", "buildings"], rows, "Buildings accounted for", "", sm.output[0])
