# Parse-time set-up: validate the config, build the grid, choose regions, fix output paths.
# Nothing here reads input data or the network, so dry runs work without any data present.
from pathlib import Path

from snakemake.utils import min_version

import windrisk
from windrisk.config import config_hash, grid_from_config, resolve_config, selected_region_ids
from windrisk.paths import RunPaths

min_version("9.0")

CFG = resolve_config(config)


def job_config(*sections):
    """The config sections a rule reads, passed as `params.config`. A change elsewhere, or a
    narrower `regions`, then re-runs nothing."""
    return {key: CFG[key] for key in ("run_name", "results", "grid", *sections) if key in CFG}

GRID = grid_from_config(CFG)
REGIONS = selected_region_ids(CFG, GRID, base_dir=Path(workflow.basedir))
PATHS = RunPaths(CFG["results"])
CODE_VERSION = windrisk.__version__
ENV = "../envs/windrisk.yaml"


def is_local(location):
    return "://" not in location


def local_inputs(*locations):
    """Local input files become Snakemake inputs (tracked for reruns); URLs stay params."""
    return [loc for loc in locations if is_local(loc)]


# Report quick-looks (rules/report.smk), listed here so that `rule all` can target them.
REPORT_DIR = Path(PATHS.report_dir)
REPORT = {
    "region": str(REPORT_DIR / "regions" / "{region_id}.png"),
    "overview": str(REPORT_DIR / "overview.png"),
    "scores": str(REPORT_DIR / "scores.png"),
    "benchmarks_html": str(REPORT_DIR / "benchmarks.html"),
    "benchmarks_csv": str(REPORT_DIR / "benchmarks.csv"),
}


def report_targets():
    """Every report output, so `rule all` builds them and `--report` finds them."""
    singles = [v for k, v in REPORT.items() if k != "region"]
    return expand(REPORT["region"], region_id=REGIONS) + singles


def wind_distribution_location():
    wind = CFG["inputs"]["wind"]
    return wind.get("distribution") or PATHS.wind_distribution


# Sentinels naming snapshots that are no longer on the store's branch (store reset or recreated,
# lost commit) are renamed to *.stale so their regions re-run. Main process only; never creates
# the store; one readonly session; warns instead of failing when the store cannot be reached.
if workflow.is_main_process and CFG["store"]["reconcile_sentinels"]:
    from windrisk.store import reconcile_at_parse_time

    reconcile_at_parse_time(CFG, GRID, PATHS, REGIONS)
