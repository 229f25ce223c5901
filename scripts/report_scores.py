"""Snakemake wrapper: the distribution of building scores for the report."""

from typing import TYPE_CHECKING

from windrisk.io import job_logging
from windrisk.report import plot_score_distribution, score_counts

if TYPE_CHECKING:  # Snakemake defines `snakemake` in the script's preamble
    from snakemake.iocontainers import snakemake  # noqa: TC004

with job_logging(snakemake):
    plot_score_distribution(score_counts(snakemake.input[0]), snakemake.output[0])
