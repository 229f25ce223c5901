# Step 4: the PMTiles layer of every building, and an offline map page beside it.
# Resources: see rules/wind.smk.

from windrisk.sizing import by_attempt


rule pmtiles:
    input:
        PATHS.conus_buildings,
    output:
        PATHS.pmtiles,
    log:
        PATHS.log("pmtiles", "pmtiles"),
    benchmark:
        PATHS.benchmark("pmtiles", "pmtiles")
    conda:
        ENV
    # bench_tiles.py, 1 M points: 6.6 s wall for 9.5 CPU-s (~1.4 cores busy), 607 MB peak; the
    # tiler holds at most 2 M rows at once (tiles.MAX_PARTITION_ROWS), so CONUS's ~156 M points
    # take ~17 min in about the same memory.
    threads: 2
    resources:
        mem_mb=by_attempt(4000),
        runtime=60,
    params:
        tiles=canonical(CFG["tiles"]),
        code_version=code_version("pmtiles"),
    script:
        "../scripts/pmtiles.py"


from windrisk.web import assets_digest

# The page's optional files, each beside it (the script turns off what the rule does not give):
# the search index, the offline basemap unless a basemap style is configured, the choropleth.
PAGE_EXTRAS = {"gazetteer": PATHS.gazetteer}
if SETTINGS.tiles.basemap is None:
    PAGE_EXTRAS.update(basemap=PATHS.basemap_pmtiles, fonts=PATHS.fonts_dir)
if HAS_BOUNDARIES:
    PAGE_EXTRAS.update(summaries=PATHS.summary_pmtiles)


rule map_page:
    input:
        **PAGE_EXTRAS,
        pmtiles=PATHS.pmtiles,
        # Written beside the page as method.html.
        # local(): a file of the workflow, not of the default storage (profiles/coiled's S3).
        method=local(str(Path(workflow.basedir) / "docs" / "method.md")),
    output:
        # vendor/ (the pinned MapLibre and pmtiles scripts) and method.html are written beside the page.
        PATHS.map_page,
    log:
        PATHS.log("map_page", "map_page"),
    benchmark:
        PATHS.benchmark("map_page", "map_page")
    conda:
        ENV
    threads: 1
    resources:
        # Copies the page and its vendored scripts: 26 MB, 1 s on the demo run.
        mem_mb=1000,
        runtime=10,
    params:
        tiles=canonical(CFG["tiles"]),
        grid=canonical(CFG["grid"]),
        regions=REGIONS,
        # A new page template or vendored library rebuilds the page (params trigger).
        assets=assets_digest(),
        code_version=code_version("map_page"),
    script:
        "../scripts/map_page.py"


from windrisk.basemap import run_bounds
from windrisk.usatlas import data_digest


rule basemap:
    output:
        pmtiles=PATHS.basemap_pmtiles,
        gazetteer=PATHS.gazetteer,
        fonts=directory(PATHS.fonts_dir),
    log:
        PATHS.log("basemap", "basemap"),
    benchmark:
        PATHS.benchmark("basemap", "basemap")
    conda:
        ENV
    threads: 1
    resources:
        # The whole CONUS (3,100 counties, 6,000 labels): 23 s, 6.5 MB of tiles (bench_basemap.py).
        mem_mb=2000,
        runtime=10,
    params:
        # The grid's lon/lat bounds plus a margin: the area the basemap covers.
        bounds=list(run_bounds(GRID)),
        code_version=code_version("basemap"),
        # The bundled public-domain boundaries and places (windrisk.usatlas): by content, so a new
        # install location re-runs nothing.
        data=data_digest(),
    script:
        "../scripts/basemap.py"


if HAS_BOUNDARIES:

    rule summary_tiles:
        input:
            states=PATHS.state_summaries,
            counties=PATHS.county_summaries,
        output:
            PATHS.summary_pmtiles,
        log:
            PATHS.log("summary_tiles", "summary_tiles"),
        benchmark:
            PATHS.benchmark("summary_tiles", "summary_tiles")
        conda:
            ENV
        threads: 1
        resources:
            # ~3,100 county and 49 state polygons at 1:500 k for CONUS; seconds on the demo.
            mem_mb=by_attempt(2000),
            runtime=20,
        params:
            code_version=code_version("summary_tiles"),
        script:
            "../scripts/summary_tiles.py"
