# Regional summaries: building risk per county and per state (windrisk.summaries), only when the
# config sets both Census boundary files (inputs.boundaries).
BOUNDARIES = SETTINGS.inputs.boundaries
HAS_BOUNDARIES = bool(BOUNDARIES.states and BOUNDARIES.counties)
SUMMARIES = {
    "county_summaries": PATHS.county_summaries,
    "county_summaries_csv": PATHS.county_summaries_csv,
    "state_summaries": PATHS.state_summaries,
    "state_summaries_csv": PATHS.state_summaries_csv,
    "summaries_accounting": PATHS.summaries_accounting,
}


if HAS_BOUNDARIES:

    rule summaries:
        input:
            buildings=PATHS.conus_buildings,
            # The boundary files by their content (windrisk.inputs), as every input.
            checked=input_check("boundaries"),
        output:
            **SUMMARIES,
        log:
            PATHS.log("summaries", "summaries"),
        benchmark:
            PATHS.benchmark("summaries", "summaries")
        conda:
            ENV
        threads: 1
        resources:
            # Keeps the RPS values with data as float32 for exact percentiles: 8 B per building,
            # ~1.3 GB for CONUS's ~156 M, plus one row group (windrisk.summaries).
            mem_mb=by_attempt(4000),
            runtime=120,
        params:
            config=job_config(),
            code_version=code_version("summaries"),
        script:
            "../scripts/summaries.py"
