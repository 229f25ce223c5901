"""Rerun only what is missing or changed, as Snakemake's own dry run sees it.

Each test copies the finished demo run (outputs, store, `.snakemake/` metadata; mtimes kept),
breaks one thing, and reads the jobs `snakemake -n` would run: its "Job stats" table and the
`region_id` wildcards of the listed jobs. Expected: exactly that region's jobs plus the steps
that combine all regions (CONUS GeoParquet, PMTiles, map page and the run report), nothing else.
The code tests edit a copy of the package sources that Snakemake imports instead (PYTHONPATH):
each rule's `code_version` param follows the code its script runs (windrisk.codeversion).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import pytest
import zarr
from conftest import demo_config_in, run_snakemake

from windrisk import codeversion
from windrisk.paths import RunPaths
from windrisk.plan import job_stats

pytestmark = pytest.mark.slow
REGION = "y1_x1"
PATHS = RunPaths("results")
# Steps that read every region (or what reads every region): re-run when any region changes.
COMBINE = {
    "aggregate_conus": 1,
    "summaries": 1,
    "summary_tiles": 1,
    "pmtiles": 1,
    "map_page": 1,
    "report_scores": 1,
    "report_accounting": 1,
    "report_benchmarks": 1,
    "all": 1,
}
# One region's wind step changed: its own jobs, the overview of all sentinels, and COMBINE.
REGION_WIND = {"wind_region": 1, "buildings_region": 1, "report_region": 1, "report_overview": 1, **COMBINE}
WILDCARD = re.compile(r"wildcards: region_id=(\S+)")


@pytest.fixture()
def work(demo_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished demo run (copy2 keeps mtimes, so nothing looks newer)."""
    dest = tmp_path / "work"
    shutil.copytree(demo_run, dest, symlinks=True)
    return dest


@pytest.fixture()
def code(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """(a copy of the package sources to edit, the environment that makes Snakemake import it)."""
    src = tmp_path / "src"
    shutil.copytree(codeversion.PACKAGE_DIR, src / "windrisk", ignore=shutil.ignore_patterns("__pycache__"))
    return src / "windrisk", {"PYTHONPATH": str(src)}


def dry_run(workdir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict[str, int], set[str]]:
    """(jobs per rule, region ids of the jobs) that `snakemake -n` would run."""
    proc = run_snakemake(workdir, "-n", *args, env=env)
    out = proc.stdout + proc.stderr
    return job_stats(out), set(WILDCARD.findall(out))


def test_complete_run_has_nothing_to_do(work: Path) -> None:
    stats, regions = dry_run(work)
    assert stats == {} and regions == set()


def test_deleting_one_region_file_reruns_only_that_region(work: Path) -> None:
    (work / PATHS.region(PATHS.region_buildings_pattern, REGION)).unlink()
    stats, regions = dry_run(work)
    assert stats == {"buildings_region": 1, **COMBINE}
    assert regions == {REGION}


def test_a_deleted_sentinel_is_adopted_from_the_store(work: Path) -> None:
    """The store holds the region with this run's provenance: the sentinel comes back, byte for
    byte, and nothing re-runs (its writing again is in test_input_workflow.py)."""
    sentinel = work / PATHS.region(PATHS.region_sentinel_pattern, REGION)
    before = sentinel.read_bytes()
    sentinel.unlink()
    stats, regions = dry_run(work)
    assert stats == {} and regions == set()
    assert sentinel.read_bytes() == before


def test_clearing_a_written_mark_in_the_store_reruns_that_region(work: Path) -> None:
    cfg = demo_config_in(work)
    from windrisk.store import open_repo

    repo = open_repo(cfg)
    session = repo.writable_session(cfg.store.branch)
    written = zarr.open_array(session.store, path="written", mode="r+")
    written[cfg.region_grid().chunk_index(REGION)] = 0
    session.commit(f"test: clear the written mark of {REGION}")
    stats, regions = dry_run(work)  # the parse-time reconcile hook sets the sentinel aside
    assert stats == REGION_WIND
    assert regions == {REGION}
    assert Path(str(work / PATHS.region(PATHS.region_sentinel_pattern, REGION)) + ".stale").exists()


def test_region_computed_by_another_code_version_is_rerun(work: Path) -> None:
    """A region whose recorded params (code_version) differ re-runs; the other regions do not."""
    sentinel = PATHS.region(PATHS.region_sentinel_pattern, REGION)
    record = metadata_file(work, sentinel)
    meta = json.loads(record.read_text())
    meta["params"] = [p.replace("0.", "older-0.", 1) if p.startswith("'0.") else p for p in meta["params"]]
    assert meta["params"] != json.loads(record.read_text())["params"], "no code_version param found"
    record.write_text(json.dumps(meta))
    stats, regions = dry_run(work)
    assert stats == REGION_WIND
    assert regions == {REGION}


def test_changed_input_reruns_the_jobs_reading_it(work: Path) -> None:
    """The buildings input is read by every buildings_region job and by nothing upstream; its new
    content is checked first (a new check report, named by the new identity)."""
    buildings = work / demo_config_in(work).inputs.buildings
    with buildings.open("ab") as f:  # new content: checksum and mtime both change
        f.write(b"\0")
    stats, regions = dry_run(work)
    n_regions = len(list((work / "results" / "regions").glob("*.parquet")))
    assert stats == {"check_inputs": 1, "buildings_region": n_regions, **COMBINE}
    assert len(regions) == n_regions


def test_a_wind_code_edit_reruns_every_region_and_adopts_none(work: Path, code: tuple[Path, dict[str, str]]) -> None:
    """Every region is made by other code now: its wind, building and report steps re-run, and a
    region whose sentinel is gone is not adopted from the store (its commit records the old code)."""
    package, env = code
    with (package / "wind.py").open("a") as f:
        f.write("\n\nEDITED = True\n")
    sentinel = work / PATHS.region(PATHS.region_sentinel_pattern, REGION)
    sentinel.unlink()
    stats, regions = dry_run(work, env=env)
    n_regions = len(list((work / "results" / "regions").glob("*.parquet")))
    assert stats == {
        "wind_region": n_regions,
        "buildings_region": n_regions,
        "report_region": n_regions,
        "report_overview": 1,
        **COMBINE,
    }
    assert len(regions) == n_regions
    assert not sentinel.exists()


def test_a_tiles_code_edit_reruns_only_the_tiles_and_what_reads_them(
    work: Path, code: tuple[Path, dict[str, str]]
) -> None:
    package, env = code
    with (package / "tiles.py").open("a") as f:
        f.write("\n\nEDITED = True\n")
    stats, regions = dry_run(work, env=env)
    assert stats == {"pmtiles": 1, "map_page": 1, "report_benchmarks": 1, "all": 1}
    assert regions == set()


def test_comment_and_docstring_edits_rerun_nothing(work: Path, code: tuple[Path, dict[str, str]]) -> None:
    """As documented in windrisk.codeversion: only the code counts, not its comments or docstrings."""
    package, env = code
    for name in ("wind.py", "tiles.py", "io.py"):
        text = (package / name).read_text()
        assert text.startswith('"""'), f"{name}: expected a module docstring"
        (package / name).write_text(f'# A new comment.\n"""Edited. {text[3:]}\n# The end.\n')
    stats, regions = dry_run(work, env=env)
    assert stats == {} and regions == set()


def test_narrowing_regions_does_not_rerun_existing_regions(work: Path) -> None:
    """`--config regions=...` changes which regions are combined, never a region's own jobs."""
    stats, regions = dry_run(work, "--config", f"regions={REGION}")
    assert not {"wind_region", "buildings_region", "report_region"} & set(stats), stats
    assert regions == set()


def metadata_file(workdir: Path, output: str) -> Path:
    """Snakemake's metadata record of one output (file name: urlsafe base64 of the path)."""
    for path in (workdir / ".snakemake" / "metadata").rglob("*"):
        name = "".join(path.relative_to(workdir / ".snakemake" / "metadata").parts)
        try:
            if path.is_file() and base64.urlsafe_b64decode(name).decode() == output:
                return path
        except ValueError:
            continue
    raise AssertionError(f"no Snakemake metadata for {output}")
