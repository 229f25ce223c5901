"""The profiles: each parses, none is silently overridden by the auto-loaded default profile,
and the CI profile runs ONE demo region end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake

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
