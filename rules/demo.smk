# Synthetic demo inputs in the real products' formats, only in configs with a `demo` section.
if "demo" in CFG:

    rule demo_inputs:
        output:
            bp_2011=CFG["inputs"]["burn_probability"]["2011"],
            bp_2047=CFG["inputs"]["burn_probability"]["2047"],
            crps=CFG["inputs"]["crps"],
            rps=CFG["inputs"]["rps"],
            wind=directory(CFG["inputs"]["wind"]["hourly"]),
            buildings=CFG["inputs"]["buildings"],
        params:
            config=job_config("inputs", "demo"),
        log:
            PATHS.log("demo_inputs", "demo_inputs"),
        benchmark:
            PATHS.benchmark("demo_inputs", "demo_inputs")
        conda:
            ENV
        script:
            "../scripts/demo_inputs.py"
