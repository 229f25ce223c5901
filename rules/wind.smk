# Step 1: the wind calc per region, written into the one shared Icechunk store.
# The store is never a Snakemake output (Snakemake deletes outputs before a job runs);
# small JSON sentinels whose content changes with every write stand for it.

if "hourly" in CFG["inputs"]["wind"]:

    rule wind_distribution:
        input:
            local_inputs(CFG["inputs"]["wind"]["hourly"]),
        output:
            PATHS.wind_distribution,
        params:
            # From `input` when local, so storage plugins can stage it; URLs are read directly.
            hourly=lambda w, input: input[0] if input else CFG["inputs"]["wind"]["hourly"],
            speed_unit=CFG["inputs"]["wind"]["wind_speed_unit"],
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
    params:
        config=job_config("store"),
        code_version=CODE_VERSION,
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
        template=PATHS.store_template,
        rasters=local_inputs(
            CFG["inputs"]["burn_probability"]["2011"],
            CFG["inputs"]["burn_probability"]["2047"],
            CFG["inputs"]["crps"],
            CFG["inputs"]["rps"],
        ),
        wind=local_inputs(wind_distribution_location()),
    output:
        PATHS.region_sentinel_pattern,
    params:
        config=job_config("inputs", "store"),
        config_hash=config_hash(job_config("inputs", "store")),
        code_version=CODE_VERSION,
        wind_distribution=lambda w, input: input.wind[0] if input.wind else wind_distribution_location(),
    log:
        PATHS.log("wind_region"),
    benchmark:
        PATHS.benchmark("wind_region")
    conda:
        ENV
    script:
        "../scripts/wind_region.py"
