# Step 1: the wind calc per region, written into the one shared Icechunk store.
# The store is never a Snakemake output (Snakemake deletes outputs before a job runs);
# small JSON sentinels whose content changes with every write stand for it.

if "hourly" in CFG["inputs"]["wind"]:

    rule wind_distribution:
        input:
            checked=input_check("hourly"),
        output:
            PATHS.wind_distribution,
        params:
            # The location comes from the workflow config in the script (not a rerun trigger).
            speed_unit=CFG["inputs"]["wind"]["wind_speed_unit"],
            code_version=code_version("wind_distribution"),
        # With dask.cluster: local and dask.workers: 0, one Dask worker per thread.
        threads: workflow.cores
        log:
            PATHS.log("wind_distribution", "wind_distribution"),
        benchmark:
            PATHS.benchmark("wind_distribution", "wind_distribution")
        conda:
            ENV
        script:
            "../scripts/wind_distribution.py"


rule store_template:
    output:
        PATHS.store_template,
    # No code_version: wind_region reads the template as ancient(), and Snakemake does not evaluate
    # the jobs that read a re-running job's output as ancient(), so a code edit re-running this job
    # would hide the regions' own code change. The template, once made, is kept anyway.
    params:
        config=job_config("store"),
    log:
        PATHS.log("store_template", "store_template"),
    benchmark:
        PATHS.benchmark("store_template", "store_template")
    conda:
        ENV
    script:
        "../scripts/store_template.py"


rule wind_region:
    input:
        # ancient: re-creating the same template or re-checking the same inputs re-runs nothing.
        template=ancient(PATHS.store_template),
        checked=input_check("rasters"),
        **({"wind": PATHS.wind_distribution} if "hourly" in CFG["inputs"]["wind"] else {}),
    output:
        PATHS.region_sentinel_pattern,
    params:
        config=job_config("store", "method"),
        code_version=code_version("wind_region"),
    log:
        PATHS.log("wind_region"),
    benchmark:
        PATHS.benchmark("wind_region")
    conda:
        ENV
    script:
        "../scripts/wind_region.py"
