"""Snakemake wrapper: every region's building file → one CONUS GeoParquet (rule aggregate_conus)."""

import logging

from windrisk.aggregate import aggregate
from windrisk.io import log_to

log_to(snakemake.log[0])  # noqa: F821
rows_per_group = int(snakemake.params.config["buildings"]["row_group_size"])  # noqa: F821
n = aggregate(list(snakemake.input), snakemake.output[0], rows_per_group)  # noqa: F821
logging.getLogger("windrisk.aggregate_conus").info("%d buildings from %d region files → %s", n, len(snakemake.input), snakemake.output[0])  # noqa: F821
