# Steps 2 and 3: building-centroid risk per region, then one CONUS GeoParquet.


rule buildings_region:
    input:
        sentinel=PATHS.region_sentinel_pattern,
        checked=input_check("buildings"),
    output:
        PATHS.region_buildings_pattern,
    params:
        config=job_config("store", "buildings"),
        code_version=code_version("buildings_region"),
    log:
        PATHS.log("buildings_region"),
    benchmark:
        PATHS.benchmark("buildings_region")
    conda:
        ENV
    script:
        "../scripts/buildings_region.py"


rule aggregate_conus:
    input:
        regions=expand(PATHS.region_buildings_pattern, region_id=REGIONS),
        checked=input_check("buildings"),
    output:
        buildings=PATHS.conus_buildings,
        accounting=PATHS.buildings_accounting,
    params:
        config=job_config("buildings"),
        code_version=code_version("aggregate_conus"),
    log:
        PATHS.log("aggregate_conus", "aggregate_conus"),
    benchmark:
        PATHS.benchmark("aggregate_conus", "aggregate_conus")
    conda:
        ENV
    script:
        "../scripts/aggregate_conus.py"
