# Step 4: the PMTiles layer of every building, and an offline map page beside it.


rule pmtiles:
    input:
        PATHS.conus_buildings,
    output:
        PATHS.pmtiles,
    params:
        tiles=CFG["tiles"],
    threads: workflow.cores
    log:
        PATHS.log("pmtiles", "pmtiles"),
    benchmark:
        PATHS.benchmark("pmtiles", "pmtiles")
    conda:
        ENV
    script:
        "../scripts/pmtiles.py"


rule map_page:
    input:
        PATHS.pmtiles,
    output:
        PATHS.map_page,
    params:
        tiles=CFG["tiles"],
    log:
        PATHS.log("map_page", "map_page"),
    conda:
        ENV
    script:
        "../scripts/map_page.py"
