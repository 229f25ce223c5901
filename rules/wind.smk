# Step 1: the wind calc per region, written into the one shared Icechunk store.
# The store is never a Snakemake output (Snakemake deletes outputs before a job runs);
# small JSON sentinels whose content changes with every write stand for it.
# Resources: numbers from benchmarks/README.md and the demo run's benchmark files; the scaling
# with the config is windrisk.sizing's.

from windrisk.sizing import by_attempt, dask_local_mb, region_mb, region_threads

if SETTINGS.inputs.wind.hourly:

    rule wind_distribution:
        input:
            checked=input_check("hourly"),
        output:
            PATHS.wind_distribution,
        log:
            PATHS.log("wind_distribution", "wind_distribution"),
        benchmark:
            PATHS.benchmark("wind_distribution", "wind_distribution")
        conda:
            ENV
        # With dask.cluster: local and dask.workers: 0, one Dask worker per thread; any other
        # cluster runs the work elsewhere and this job only drives it.
        threads: workflow.cores if SETTINGS.dask.cluster == "local" else 1
        resources:
            # Client and scheduler: 0.23 GiB measured at 1,440 h (bench_fireweather.py), with room
            # for CONUS404's ~1.9 M-task graph; plus local workers at dask.memory_per_worker each.
            mem_mb=dask_local_mb(SETTINGS.dask, client_mb=2000),
            # CONUS404: ~275 core-hours, ~17 h on 16 workers (benchmarks/README.md projection);
            # the demo's 720 h take ~1 min.
            runtime=24 * 60,
        params:
            # The location comes from the workflow config in the script (not a rerun trigger).
            speed_unit=SETTINGS.inputs.wind.wind_speed_unit,
            code_version=code_version("wind_distribution"),
        script:
            "../scripts/wind_distribution.py"


rule store_template:
    output:
        PATHS.store_template,
    log:
        PATHS.log("store_template", "store_template"),
    benchmark:
        PATHS.benchmark("store_template", "store_template")
    conda:
        ENV
    threads: 1
    resources:
        # Metadata only, the same at any grid size: 177 MB peak, 22 s on the demo run.
        mem_mb=by_attempt(1000),
        runtime=15,
    # No code_version: wind_region reads the template as ancient(), and Snakemake does not evaluate
    # the jobs that read a re-running job's output as ancient(), so a code edit re-running this job
    # would hide the regions' own code change. The template, once made, is kept anyway.
    params:
        config=job_config("store"),
    script:
        "../scripts/store_template.py"


rule wind_region:
    input:
        **({"wind": PATHS.wind_distribution} if SETTINGS.inputs.wind.hourly else {}),
        # ancient: re-creating the same template or re-checking the same inputs re-runs nothing.
        template=ancient(PATHS.store_template),
        checked=input_check("rasters"),
    output:
        PATHS.region_sentinel_pattern,
    log:
        PATHS.log("wind_region"),
    benchmark:
        PATHS.benchmark("wind_region")
    conda:
        ENV
    # A full region, both climate runs: ~100 s of computing and writing on 2 cores, 1.84 GiB peak
    # (bench_region.py); smaller regions scaled down (demo: 1 thread, ~300 MB).
    threads: region_threads(SETTINGS.grid, 2)
    resources:
        mem_mb=region_mb(SETTINGS.grid, 4000),
        # The computation plus the wait for the group commit (bench_store.py: p99 write-to-proof
        # 30 s locally, up to ~8 min with 200 writers on a slow S3 endpoint).
        runtime=30,
    params:
        config=job_config("store", "method"),
        code_version=code_version("wind_region"),
    script:
        "../scripts/wind_region.py"
