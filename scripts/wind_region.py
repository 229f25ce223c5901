"""Snakemake wrapper: compute one region's wind-informed risk, commit it, write its sentinel."""

from windrisk import store, wind
from windrisk.grid import RegionGrid
from windrisk.io import log_to

log_to(snakemake.log[0])  # noqa: F821
cfg, params, rid = snakemake.params.config, snakemake.params, snakemake.wildcards.region_id  # noqa: F821
grid = RegionGrid.from_config(cfg["grid"])
arrays = wind.compute_region(cfg, grid, rid, params.wind_distribution)
provenance = store.region_provenance(cfg, params.wind_distribution, params.code_version, params.config_hash)
payload = store.write_region(cfg, grid, rid, arrays, provenance)
store.write_sentinel(snakemake.output[0], payload)  # noqa: F821
