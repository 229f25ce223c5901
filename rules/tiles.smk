# Step 4: the PMTiles layer of every building, and an offline map page beside it.


rule pmtiles:
    input:
        PATHS.conus_buildings,
    output:
        PATHS.pmtiles,
    params:
        tiles=canonical(CFG["tiles"]),
        code_version=code_version("pmtiles"),
    threads: workflow.cores
    log:
        PATHS.log("pmtiles", "pmtiles"),
    benchmark:
        PATHS.benchmark("pmtiles", "pmtiles")
    conda:
        ENV
    script:
        "../scripts/pmtiles.py"


from windrisk.web import assets_digest


rule map_page:
    input:
        PATHS.pmtiles,
    output:
        # vendor/ (the pinned MapLibre and pmtiles scripts) is copied beside the page.
        PATHS.map_page,
    params:
        tiles=canonical(CFG["tiles"]),
        grid=canonical(CFG["grid"]),
        regions=REGIONS,
        # A new page template or vendored library rebuilds the page (params trigger).
        assets=assets_digest(),
        code_version=code_version("map_page"),
    log:
        PATHS.log("map_page", "map_page"),
    benchmark:
        PATHS.benchmark("map_page", "map_page")
    conda:
        ENV
    script:
        "../scripts/map_page.py"
