"""Snakemake wrapper: the CONUS building GeoParquet → one PMTiles point layer (rule pmtiles)."""

import logging

from windrisk.io import log_to
from windrisk.tiles import build_pmtiles

log_to(snakemake.log[0])  # noqa: F821
plan = build_pmtiles(snakemake.input[0], snakemake.output[0], snakemake.params.tiles)  # noqa: F821
logging.getLogger("windrisk.pmtiles").info(
    "%d buildings tiled: drop rates %s (high) %s (low), split zoom %d, %d partitions",
    plan.n_rows, plan.high_rate, plan.low_rate, plan.split_zoom, plan.n_partitions)
