"""Inspecting the CONUS run with NO input data and no network: -n, --rulegraph, --dag, --summary,
all 799 chunks, and `windrisk plan` (which must agree with Snakemake's own dry run).

The parse-time store check (`store.reconcile_sentinels`) would ask S3 about the CONUS store; an
overlay config turns it off so nothing leaves the machine (with it on, the dry run still works
and only warns, see test_conus_dry_run_as_users_type_it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import CONUS_CONFIG, REPO, run_snakemake

from windrisk.plan import job_stats
from windrisk.plan import main as plan_main

pytestmark = pytest.mark.slow
N_DATA_REGIONS = len(json.loads((REPO / "config" / "regions" / "conus.json").read_text())["region_ids"])
PER_REGION = ("wind_region", "buildings_region")


@pytest.fixture(scope="module")
def offline_conus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(empty workdir, CONUS config without the parse-time S3 check)."""
    tmp = tmp_path_factory.mktemp("conus_dry")
    config = yaml.safe_load(CONUS_CONFIG.read_text())
    config["store"]["reconcile_sentinels"] = False
    config["grid"]["data_regions"] = str(REPO / config["grid"]["data_regions"])
    path = tmp / "conus_offline.yaml"
    path.write_text(yaml.safe_dump(config))
    return tmp / "work", path


def conus(offline: tuple[Path, Path], *args: str) -> str:
    workdir, configfile = offline
    workdir.mkdir(exist_ok=True)
    proc = run_snakemake(workdir, *args, configfile=configfile)
    return proc.stdout + proc.stderr


def test_all_799_chunks_via_nested_config_override(offline_conus: tuple[Path, Path]) -> None:
    # Snakemake 9 parses `--config key={...}` with YAML and merges it into the config files'
    # mapping, so one nested key can be overridden (values arrive as strings: fine for 'all').
    stats = job_stats(conus(offline_conus, "-n", "--quiet", "rules", "--config", "grid={data_regions: all}"))
    assert all(stats[rule] == 17 * 47 == 799 for rule in PER_REGION), stats


def test_rulegraph_names_every_step(offline_conus: tuple[Path, Path]) -> None:
    dot = conus(offline_conus, "--rulegraph")
    rules = set(re.findall(r'label = "(\w+)"', dot))
    assert {"store_template", "wind_region", "buildings_region", "aggregate_conus", "pmtiles", "map_page"} <= rules


def test_dag_has_one_node_per_region_job(offline_conus: tuple[Path, Path]) -> None:
    dot = conus(offline_conus, "--dag")
    for rule in PER_REGION:
        # `label = "wind_region\nregion_id: y1_x21"` or just `label = "buildings_region"`.
        assert len(re.findall(rf'label = "{rule}(?:\\n|")', dot)) == 405, rule


def test_summary_lists_every_region_output_as_pending(offline_conus: tuple[Path, Path]) -> None:
    rows = [line.split("\t") for line in conus(offline_conus, "--summary").splitlines() if "\t" in line]
    header, rows = rows[0], rows[1:]
    rule, plan = header.index("rule"), header.index("plan")
    for name in PER_REGION:
        mine = [row for row in rows if row[rule] == name]
        assert len(mine) == 405 and {row[plan] for row in mine} == {"update pending"}


def test_plan_agrees_with_the_dry_run(offline_conus: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    workdir, configfile = offline_conus
    workdir.mkdir(exist_ok=True)
    assert (
        plan_main(
            [
                "--configfile",
                str(configfile),
                "--directory",
                str(workdir),
                "--snakefile",
                str(REPO / "Snakefile"),
                "--json",
            ]
        )
        == 0
    )
    steps = {s["step"]: s for s in json.loads(capsys.readouterr().out)}
    assert steps["wind_region"] == {"step": "wind_region", "done": 0, "to_run": 405, "total": 405}
    assert steps["buildings_region"]["to_run"] == 405
    assert steps["aggregate"]["to_run"] == 1 and steps["tiles"]["to_run"] == 3  # pmtiles, basemap, map_page
    assert steps["summaries"]["to_run"] == 2  # the summaries and their tiles (conus.yaml sets boundaries)


def test_conus_dry_run_as_users_type_it_counts_405_jobs_per_region_rule(tmp_path: Path) -> None:
    """The shipped config, store check on: no credentials here, so it warns and carries on."""
    out = run_snakemake(tmp_path, "-n", "--quiet", "rules", configfile=CONUS_CONFIG, timeout=300)
    stats = job_stats(out.stdout + out.stderr)
    assert N_DATA_REGIONS == 405
    assert all(stats[rule] == 405 for rule in PER_REGION), stats
    assert stats["aggregate_conus"] == 1 and stats["pmtiles"] == 1


@pytest.mark.parametrize("configfile", ["config.yaml", "conus.yaml"])
def test_lint_reports_nothing(tmp_path: Path, configfile: str) -> None:
    proc = run_snakemake(tmp_path, "--lint", configfile=REPO / "config" / configfile)
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr
