# Steps 2 and 3: building-centroid risk per region, then one CONUS GeoParquet.
# Resources: see rules/wind.smk.

from windrisk.sizing import by_attempt, region_mb


rule buildings_region:
    input:
        sentinel=PATHS.region_sentinel_pattern,
        checked=input_check("buildings"),
    output:
        PATHS.region_buildings_pattern,
    log:
        PATHS.log("buildings_region"),
    benchmark:
        PATHS.benchmark("buildings_region")
    conda:
        ENV
    threads: 1
    resources:
        # Reads the region's 8 variables from the store (8 x 27 Mpx x 4 B on CONUS) beside its
        # buildings: 4000 MB for a full region (no CONUS measurement; demo: 230 MB, 14 s).
        mem_mb=region_mb(SETTINGS.grid, 4000),
        runtime=30,
    params:
        config=job_config("store", "buildings"),
        code_version=code_version("buildings_region"),
    script:
        "../scripts/buildings_region.py"


rule aggregate_conus:
    input:
        regions=expand(PATHS.region_buildings_pattern, region_id=REGIONS),
        checked=input_check("buildings"),
    output:
        buildings=PATHS.conus_buildings,
        accounting=PATHS.buildings_accounting,
    log:
        PATHS.log("aggregate_conus", "aggregate_conus"),
    benchmark:
        PATHS.benchmark("aggregate_conus", "aggregate_conus")
    conda:
        ENV
    threads: 1
    resources:
        # Streamed one row group at a time: 211-259 MB peak and 3.1-4.4 M rows/s at 10 M rows
        # (bench_aggregate.py), so CONUS's ~156 M rows take about a minute of writing.
        mem_mb=by_attempt(2000),
        runtime=60,
    params:
        config=job_config("buildings"),
        code_version=code_version("aggregate_conus"),
    script:
        "../scripts/aggregate_conus.py"
