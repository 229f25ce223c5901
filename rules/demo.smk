# Synthetic demo inputs in the real products' formats, only in configs with a `demo` section.
# They are written under demo.dir and nowhere else: an `inputs` path outside it must exist.
if SETTINGS.demo is not None:

    from windrisk.paths import demo_outputs

    # A checkpoint: the files it makes are identified by their content once made (rules/common.smk).
    checkpoint demo_inputs:
        # After the template: a job still running when Snakemake updates the DAG after this
        # checkpoint lost every region target on Slurm (rc 0, "2 of 2 steps done").
        input:
            ancient(PATHS.store_template),
        output:
            **{name: directory(path) if name == "wind" else path for name, path in demo_outputs(SETTINGS.demo).items()},
        log:
            PATHS.log("demo_inputs", "demo_inputs"),
        benchmark:
            PATHS.benchmark("demo_inputs", "demo_inputs")
        conda:
            ENV
        threads: 1
        resources:
            # 379 MB peak, 55 s on the demo run (demo sizes of config/config.yaml).
            mem_mb=2000,
            runtime=30,
        # No code_version: a planned checkpoint hides every job behind it from a dry run, so any
        # edit of the many modules demo.py imports would show this job alone. The files it made
        # are inputs, followed by content; delete demo.dir to make them with new code.
        params:
            config=job_config("demo"),
        script:
            "../scripts/demo_inputs.py"
