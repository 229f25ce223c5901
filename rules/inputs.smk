# Every input is checked once, before any job that reads it (windrisk.inputs): one check per
# group and identity digest. A bad input fails here, so no region job starts and deletes its
# outputs; readers take the report as ancient(), so a re-check of the same inputs re-runs nothing.


# No Snakemake inputs on purpose: the report's name (the digest) already changes with the inputs,
# and readers behind an ancient() edge are not re-evaluated in a run where their upstream job
# re-runs (Snakemake masks them), so this job must re-run only for a new digest: hence no
# code_version param either (editing the checks does not redo checks already passed). Demo files
# are made before: the name is only known once the demo checkpoint is done.
rule check_inputs:
    output:
        PATHS.input_check_pattern,
    log:
        PATHS.log("check_inputs", "{group}-{digest}"),
    benchmark:
        PATHS.benchmark("check_inputs", "{group}-{digest}")
    # A bad input stays bad: a retry would only repeat the same message.
    retries: 0
    conda:
        ENV
    threads: 1
    resources:
        # The buildings check hashes every row's id in memory (CONUS: ~156 M rows) and local
        # rasters are scanned whole; no CONUS measurement (demo: 185 MB, 28 s).
        mem_mb=8000,
        runtime=120,
    params:
        identities=lambda w: group_identity(w.group).identities,
        data_regions=data_region_ids(SETTINGS, GRID, base_dir=Path(workflow.basedir)),
    script:
        "../scripts/check_inputs.py"
