# Run report (snakemake --report report.html|zip): a quick-look per region, a CONUS overview,
# the distribution of building scores and the per-rule benchmark table.


report: "../report/workflow.rst"


# Resources (see rules/wind.smk): no CONUS measurement; demo runs peak at 160-190 MB.
from windrisk.sizing import by_attempt, region_mb


rule report_region:
    input:
        PATHS.region_sentinel_pattern,
    output:
        report(
            REPORT["region"],
            category="2. Regions",
            caption="../report/region.rst",
            labels={"region": "{region_id}", "figure": "rps_2011, rps_2047"},
        ),
    log:
        PATHS.log("report_region"),
    benchmark:
        PATHS.benchmark("report_region")
    conda:
        ENV
    threads: 1
    resources:
        # Two variables of the region (2 x 27 Mpx x 4 B on CONUS), decimated and plotted.
        mem_mb=region_mb(SETTINGS.grid, 2000),
        runtime=10,
    params:
        config=job_config("store"),
        code_version=code_version("quicklook_region"),
    script:
        "../scripts/quicklook_region.py"


rule report_overview:
    input:
        expand(PATHS.region_sentinel_pattern, region_id=REGIONS),
    output:
        report(
            REPORT["overview"],
            category="1. Overview",
            caption="../report/overview.rst",
            labels={"figure": "risk to potential structures"},
        ),
    log:
        PATHS.log("report_overview", "report_overview"),
    benchmark:
        PATHS.benchmark("report_overview", "report_overview")
    conda:
        ENV
    threads: 1
    resources:
        # Every region read and decimated: 48 regions in 30 s on moto S3 (commit 92070b2).
        mem_mb=by_attempt(4000),
        runtime=60,
    params:
        config=job_config("store"),
        regions=REGIONS,
        code_version=code_version("report_overview"),
    script:
        "../scripts/report_overview.py"


rule report_scores:
    input:
        PATHS.conus_buildings,
    output:
        report(
            REPORT["scores"],
            category="1. Overview",
            caption="../report/scores.rst",
            labels={"figure": "building scores"},
        ),
    log:
        PATHS.log("report_scores", "report_scores"),
    benchmark:
        PATHS.benchmark("report_scores", "report_scores")
    conda:
        ENV
    threads: 1
    resources:
        # Two uint8 score columns of every building (CONUS: ~156 M rows).
        mem_mb=by_attempt(2000),
        runtime=30,
    params:
        code_version=code_version("report_scores"),
    script:
        "../scripts/report_scores.py"


rule report_accounting:
    input:
        PATHS.buildings_accounting,
    output:
        report(
            REPORT["accounting"],
            category="1. Overview",
            caption="../report/accounting.rst",
            labels={"table": "buildings accounted for"},
        ),
    log:
        PATHS.log("report_accounting", "report_accounting"),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code_version=code_version("report_accounting"),
    script:
        "../scripts/report_accounting.py"


rule report_benchmarks:
    # Runs after every other job so their benchmark files are all there to summarise.
    input:
        PATHS.map_page,
        PATHS.basemap_pmtiles,
        REPORT["overview"],
        REPORT["scores"],
        REPORT["accounting"],
        expand(REPORT["region"], region_id=REGIONS),
    output:
        html=report(
            REPORT["benchmarks_html"],
            category="3. Performance",
            caption="../report/benchmarks.rst",
            labels={"table": "per rule (HTML)"},
        ),
        csv=report(
            REPORT["benchmarks_csv"],
            category="3. Performance",
            caption="../report/benchmarks.rst",
            labels={"table": "per rule (CSV)"},
        ),
    log:
        PATHS.log("report_benchmarks", "report_benchmarks"),
    conda:
        ENV
    threads: 1
    resources:
        # One small TSV per job (CONUS: ~1,250).
        mem_mb=1000,
        runtime=10,
    params:
        benchmarks=str(Path(PATHS.benchmark("x", "x")).parent.parent),
        code_version=code_version("report_benchmarks"),
    script:
        "../scripts/report_benchmarks.py"
