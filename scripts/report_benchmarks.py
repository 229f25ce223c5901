"""Snakemake wrapper: the per-rule benchmark table (HTML and CSV) for the report."""

from typing import TYPE_CHECKING

from windrisk.io import job_logging
from windrisk.report import benchmark_summary, write_benchmark_csv, write_benchmark_html

if TYPE_CHECKING:  # Snakemake defines `snakemake` in the script's preamble
    from snakemake.iocontainers import snakemake  # noqa: TC004

with job_logging(snakemake):
    rows = benchmark_summary(snakemake.params.benchmarks)
    write_benchmark_html(rows, snakemake.output.html)
    write_benchmark_csv(rows, snakemake.output.csv)
