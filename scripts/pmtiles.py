"""Snakemake wrapper: the CONUS building GeoParquet → one PMTiles point layer (rule pmtiles)."""

from windrisk.io import job_logging
from windrisk.settings import TilesSettings, from_mapping
from windrisk.tiles import build_pmtiles

sm = snakemake  # noqa: F821
with job_logging(sm) as log:
    plan = build_pmtiles(sm.input[0], sm.output[0], from_mapping(TilesSettings, sm.params.tiles))
    log.info(
        "%d buildings tiled: drop rates %s (high) %s (low), split zoom %d, %d partitions",
        plan.n_rows,
        plan.high_rate,
        plan.low_rate,
        plan.split_zoom,
        plan.n_partitions,
    )
