# Parse-time set-up: validate the config, build the grid, choose regions, fix output paths, and
# identify the inputs (windrisk.inputs: hashes of local files, cached; ETags of remote ones; an
# unreachable remote input is left unresolved, so dry runs work offline).
import json
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from windrisk import codeversion, inputs
from windrisk.config import resolve_config
from windrisk.paths import RunPaths, produced_inputs
from windrisk.settings import Settings, data_region_ids, selected_region_ids

min_version("9.0")

CFG = resolve_config(config)  # plain, for params (compared as text)
SETTINGS = Settings.from_resolved(CFG)  # typed, for the package's functions


def job_config(*sections):
    """The config sections a rule reads, passed as `params.config`. A change elsewhere, or a
    narrower `regions`, then re-runs nothing; keys are sorted, so neither does reordering YAML."""
    return canonical({key: CFG[key] for key in ("run_name", "results", "grid", *sections) if key in CFG})


def code_version(script):
    """The version of the package code `scripts/<script>.py` runs (windrisk.codeversion), for the
    rule's `params.code_version`: a code edit (not a comment or docstring) of any module the script
    imports, directly or not, re-runs the rule. Snakemake's code trigger sees only the script."""
    return codeversion.stage_version(Path(workflow.basedir) / "scripts" / f"{script}.py")


def canonical(value):
    """``value`` with every mapping's keys sorted: params are compared as text, key order included."""
    return json.loads(json.dumps(value, sort_keys=True))


GRID = SETTINGS.region_grid()
REGIONS = selected_region_ids(SETTINGS, GRID, base_dir=Path(workflow.basedir))
PATHS = RunPaths(SETTINGS.results)
ENV = "../envs/windrisk.yaml"


# Inputs: identified once by the main process and handed to remote jobs through the environment,
# so every process names the same check files. A job on a machine without the variable (run by
# hand) identifies them again.
PRODUCED = produced_inputs(SETTINGS.demo)
HASHES = inputs.HashCache(PATHS.identity_cache if workflow.is_main_process else None)
IDENTITIES_ENV = "WINDRISK_INPUT_IDENTITIES"
if workflow.is_main_process or IDENTITIES_ENV not in os.environ:
    INPUTS = inputs.plan_identities(SETTINGS, PRODUCED, HASHES)
    HASHES.save()
    os.environ[IDENTITIES_ENV] = json.dumps({g: i.identities for g, i in INPUTS.items()}, sort_keys=True)
else:
    INPUTS = {g: inputs.GroupIdentity(g, i) for g, i in json.loads(os.environ[IDENTITIES_ENV]).items()}


envvars:
    IDENTITIES_ENV,


def group_identity(group):
    """The group's identities; demo-made files by their content, once the demo rule (a
    checkpoint) has made them, so a copy of a demo file elsewhere is the same input."""
    planned = INPUTS[group]
    if not planned.produced:
        return planned
    # A job process (Slurm, Coiled) runs only after the checkpoint, and its DAG lacks it.
    if workflow.is_main_process:
        checkpoints.demo_inputs.get()
    resolved = inputs.with_produced_identified(SETTINGS, planned, HASHES)
    HASHES.save()
    return resolved


def input_check(group):
    """The group's check report: its name holds the inputs' identity digest, and rules take it as
    ``ancient()``, so re-checking the same inputs never re-runs them (windrisk.inputs)."""
    return ancient(lambda w: PATHS.input_check(group, group_identity(group).digest))


# Report quick-looks (rules/report.smk), listed here so that `rule all` can target them.
REPORT_DIR = Path(PATHS.report_dir)
REPORT = {
    "region": str(REPORT_DIR / "regions" / "{region_id}.png"),
    "overview": str(REPORT_DIR / "overview.png"),
    "scores": str(REPORT_DIR / "scores.png"),
    "accounting": str(REPORT_DIR / "buildings_accounting.html"),
    "benchmarks_html": str(REPORT_DIR / "benchmarks.html"),
    "benchmarks_csv": str(REPORT_DIR / "benchmarks.csv"),
}


def report_targets():
    """Every report output, so `rule all` builds them and `--report` finds them."""
    singles = [v for k, v in REPORT.items() if k != "region"]
    return expand(REPORT["region"], region_id=REGIONS) + singles


# Sentinels naming snapshots that are no longer on the store's branch (store reset, recreated or
# gone, lost commit) are renamed to *.stale so their regions re-run; regions without a sentinel
# whose newest commit has this run's provenance are adopted (sentinel rewritten, no recompute).
# Main process only; never creates the store; warns instead of failing when it cannot be reached.
def expected_region_provenance():
    wind_code = code_version(codeversion.WIND_STAGE)  # what wind_region records
    return store.expected_provenance(SETTINGS, PATHS, wind_code, planned=INPUTS["rasters"], cache=HASHES)


if workflow.is_main_process and SETTINGS.store.reconcile_sentinels:
    from windrisk import store

    store.reconcile_at_parse_time(SETTINGS, GRID, PATHS, REGIONS, provenance=expected_region_provenance)


# Slurm (main process, before any sbatch): refuse job arrays, which lose every region of an array
# with its first task, and jobs no node can ever run, which Slurm leaves pending silently.
def check_slurm_run():
    from importlib.metadata import version

    from windrisk import slurm

    problems = []
    arrays = slurm.array_setting_error(
        workflow.executor_settings.array_jobs, version("snakemake-executor-plugin-slurm")
    )
    if arrays:
        problems.append(arrays)
    jobs = [job for job in workflow.dag.needrun_jobs() if not job.is_local]
    requests = slurm.largest_per_rule(slurm.request_of(job) for job in jobs)
    if requests:
        problems += slurm.unschedulable(requests, slurm.query_nodes())
    if problems:
        raise WorkflowError("Not starting on Slurm:\n" + "\n".join(f"- {p}" for p in problems))


onstart:
    if workflow.executor_plugin is not None and workflow.executor_plugin.name == "slurm":
        check_slurm_run()
