"""The profiles: each parses, none is silently overridden by the auto-loaded default profile,
and the CI profile runs ONE demo region end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import CONUS_CONFIG, DEMO_CONFIG, REPO, run_snakemake

from windrisk.paths import RunPaths
from windrisk.plan import job_stats
from windrisk.slurm import array_setting_error

PROFILES = REPO / "profiles"


def profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "profile.yaml").read_text())


@pytest.mark.parametrize("name", ["ci", "slurm", "coiled"])
def test_profiles_never_set_a_key_the_default_profile_sets(name: str) -> None:
    # Snakemake loads profiles/default AFTER --profile and it wins per top-level key, so such a
    # key in profiles/<name> would be silently ignored.
    assert not set(profile(name)) & set(profile("default"))


def test_default_profile_settings() -> None:
    default = profile("default")
    assert default["scheduler"] == "greedy" and default["rerun-incomplete"] and default["keep-going"]
    assert default["printshellcmds"] and default["show-failed-logs"] and default["retries"] >= 1


def test_remote_profiles_point_at_their_executors() -> None:
    assert profile("slurm")["executor"] == "slurm"
    assert profile("slurm")["slurm-status-command"] == "squeue"
    # One Slurm job per region: the run refuses arrays (windrisk.slurm, issue 16).
    assert array_setting_error(profile("slurm").get("slurm-array-jobs"), "2.8.0") is None
    coiled = profile("coiled")
    assert coiled["executor"] == "cluster-generic" and coiled["shared-fs-usage"] == "none"
    for key in ("submit", "status", "cancel"):
        assert f"scripts/coiled/{key}.py" in coiled[f"cluster-generic-{key}-cmd"]
    assert coiled["default-storage-prefix"] == "$WINDRISK_S3_PREFIX"


def test_coiled_profile_groups_each_regions_steps_into_one_batch_job() -> None:
    # One group name: a region's jobs form one component, 20 components one Coiled cluster.
    # (tests/test_coiled.py derives the per-region rules from a dry run; this is the quick check.)
    coiled = profile("coiled")
    names = {coiled["groups"].get(r) for r in ("wind_region", "buildings_region", "report_region")}
    assert names == {"regions"} and coiled["group-components"]["regions"] == 20
    # Without it Snakemake deletes the outputs of all 20 regions when one of them fails.
    assert coiled["keep-incomplete"] is True


@pytest.mark.parametrize("name", ["ci", "default", "slurm", "coiled"])
def test_no_profile_restates_the_rules_resources(name: str) -> None:
    # Each rule states its threads, mem_mb and runtime (rules/*.smk); a second copy per profile
    # drifted apart (aggregate_conus had 16 GB on Slurm and 32 GB on Coiled).
    assert "set-resources" not in profile(name)


def job_blocks(out: str) -> dict[str, str]:
    """Rule -> the dry run's block for its first job (threads, resources, wildcards ...)."""
    blocks: dict[str, str] = {}
    for rule, block in re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:    .*\n)*)", out, re.MULTILINE):
        blocks.setdefault(rule, block)
    return blocks


def dry_run_output(workdir: Path, configfile: Path) -> str:
    proc = run_snakemake(workdir, "-n", "--workflow-profile", "none", "--cores", "2", configfile=configfile)
    return proc.stdout + proc.stderr


def test_every_rule_states_its_resources_scaled_to_the_grid(tmp_path: Path) -> None:
    """Without the default profile's default-resources, every job of both configs still asks
    for memory and time; region jobs ask less on the demo's small regions than on CONUS."""
    config = yaml.safe_load(CONUS_CONFIG.read_text())
    config["store"]["reconcile_sentinels"] = False  # no parse-time look at the S3 store
    config["regions"] = "y9_x15"
    conus_config = tmp_path / "conus.yaml"
    conus_config.write_text(yaml.safe_dump(config))
    conus = job_blocks(dry_run_output(tmp_path / "conus", conus_config))
    demo = job_blocks(dry_run_output(tmp_path / "demo", DEMO_CONFIG))
    rules_text = "".join(p.read_text() for p in (REPO / "rules").glob("*.smk"))
    declared = set(re.findall(r"^\s*(?:rule|checkpoint) (\w+):", rules_text, re.MULTILINE))
    assert declared <= set(conus) | set(demo), declared - set(conus) - set(demo)
    blocks = {**demo, **conus}
    unsized = {
        rule
        for rule in declared  # every rule that runs a script (`all` only collects)
        if not re.search(r"resources: .*\bruntime=\d+.*\bmem_mb=\d+", blocks[rule])
    }
    assert unsized == set(), unsized
    # A full CONUS region: 2 threads, 4000 MB (benchmarks/README.md); a demo region: 1 thread, the floor.
    assert "threads: 2" in conus["wind_region"] and "mem_mb=4000" in conus["wind_region"]
    assert "threads:" not in demo["wind_region"] and "mem_mb=1000" in demo["wind_region"]


def test_default_profile_is_loaded_automatically(tmp_path: Path) -> None:
    out = run_snakemake(tmp_path, "-n", "--quiet", "rules")
    assert "workflow specific profile" in out.stderr and "profiles/default" in out.stderr


@pytest.mark.slow
def test_ci_profile_runs_one_region_end_to_end(tmp_path: Path) -> None:
    proc = run_snakemake(tmp_path, "--profile", str(PROFILES / "ci"))
    out = proc.stdout + proc.stderr
    region = profile("ci")["config"]["regions"]
    stats = job_stats(out)
    assert stats["wind_region"] == 1 and stats["buildings_region"] == 1, stats
    paths = RunPaths(str(tmp_path / "results"))
    assert [p.stem for p in Path(paths.region_buildings_pattern).parent.glob("*.parquet")] == [region]
    for done in (paths.conus_buildings, paths.pmtiles, paths.map_page):
        assert Path(done).stat().st_size > 0, done
    # Nothing left to do afterwards.
    again = run_snakemake(tmp_path, "--profile", str(PROFILES / "ci"), "-n")
    assert job_stats(again.stdout + again.stderr) == {}
