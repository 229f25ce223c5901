"""Snakemake wrapper: the offline basemap, its gazetteer and label glyphs (rule basemap)."""

from windrisk.basemap import build_basemap
from windrisk.io import job_logging

sm = snakemake  # noqa: F821
with job_logging(sm) as log:
    out = sm.output
    features = build_basemap(out.pmtiles, out.gazetteer, out.fonts, tuple(sm.params.bounds))
    log.info(
        "basemap of %s: %d states, %d counties, %d labels",
        features.bounds,
        len(features.states),
        len(features.counties),
        len(features.labels),
    )
