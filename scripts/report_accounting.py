"""Snakemake wrapper: the buildings accounting as an HTML table for the run report."""

import json
from pathlib import Path

from windrisk.io import log_to
from windrisk.report import accounting_rows, write_html_table

log_to(snakemake.log[0])  # noqa: F821
rows = accounting_rows(json.loads(Path(snakemake.input[0]).read_text()))  # noqa: F821
write_html_table(["what", "buildings"], rows, "Buildings accounted for", "", snakemake.output[0])  # noqa: F821
