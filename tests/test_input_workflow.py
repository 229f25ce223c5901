"""Bad or changed inputs never cost computed work (Snakemake on a copy of the finished demo run).

The demo's inputs are copied byte for byte outside the demo folder and the config pointed at the
copies (no `demo:` section): a real user's setup. From there: copies re-run nothing; a battery of
broken inputs fails in the input check, before any job that reads them, and leaves every result
in place; putting the config back re-runs nothing; deleted sentinels are adopted from the store;
a deleted store is recomputed, loudly.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
import yaml
from conftest import DEMO_CONFIG, run_snakemake

from windrisk.paths import RunPaths
from windrisk.plan import job_stats
from windrisk.settings import Settings

pytestmark = pytest.mark.slow
PATHS = RunPaths("results")
REGION_RULES = {"wind_distribution", "wind_region", "buildings_region", "report_region"}


@pytest.fixture()
def work(demo_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished demo run (mtimes kept) with its inputs copied to ext/
    (new mtimes, same bytes) and ext.yaml pointing at them."""
    dest = tmp_path / "work"
    shutil.copytree(demo_run, dest, symlinks=True)
    shutil.copytree(dest / "resources" / "demo", dest / "ext", copy_function=shutil.copyfile)
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    del raw["demo"]
    write_config(dest, raw, external_inputs())
    return dest


def external_inputs(**changes: str) -> dict:
    inputs = {
        "burn_probability": {
            "2011": "ext/riley2025/BP_2011ClimateRun.tif",
            "2047": "ext/riley2025/BP_2047ClimateRun.tif",
        },
        "crps": "ext/scott2024/CRPS.tif",
        "rps": "ext/scott2024/RPS.tif",
        "wind": {"hourly": "ext/conus404/hourly_surface.zarr", "wind_speed_unit": "m/s"},
        "buildings": "ext/overture/buildings.parquet",
        "boundaries": {
            "states": "ext/census/cb_2023_us_state_500k.zip",
            "counties": "ext/census/cb_2023_us_county_500k.zip",
        },
    }
    for key, location in changes.items():
        *parents, leaf = key.split(".")
        node = inputs
        for part in parents:
            node = node[part]
        node[leaf] = location
    return inputs


def write_config(workdir: Path, raw: dict, inputs: dict, name: str = "ext.yaml") -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump({**raw, "inputs": inputs}))
    return path


def config_in(workdir: Path, name: str = "ext.yaml") -> dict:
    return yaml.safe_load((workdir / name).read_text())


def snapshot(workdir: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every sentinel and region building file."""
    files = [*(workdir / "results" / "store" / "regions").glob("*"), *(workdir / "results" / "regions").glob("*")]
    return {str(p.relative_to(workdir)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(files)}


def planned(workdir: Path, configfile: str = "ext.yaml", *args: str) -> tuple[dict[str, int], str]:
    proc = run_snakemake(workdir, "-n", *args, configfile=workdir / configfile)
    out = proc.stdout + proc.stderr
    return job_stats(out), out


def test_identical_copies_rerun_nothing(work: Path) -> None:
    stats, _ = planned(work)
    assert stats == {}, stats


def test_broken_inputs_fail_in_the_check_and_keep_every_result(work: Path) -> None:
    ext = work / "ext"
    bad = work / "bad"
    bad.mkdir()
    bp = (ext / "riley2025" / "BP_2011ClimateRun.tif").read_bytes()
    (bad / "truncated.tif").write_bytes(bp[: len(bp) // 3])
    with rasterio.open(ext / "riley2025" / "BP_2047ClimateRun.tif") as src:
        data, profile = src.read(), src.profile
    rewrite(bad / "nocrs.tif", data, {**profile, "crs": None})
    rewrite(bad / "degrees.tif", data, {**profile, "crs": "EPSG:4326"})
    rewrite(bad / "scaled.tif", np.where(data > 0, data * 1000, data), profile)  # BP in per mille
    table = pq.read_table(ext / "overture" / "buildings.parquet")
    pq.write_table(
        table.drop_columns(["geometry"]).replace_schema_metadata(table.schema.metadata), bad / "nogeometry.parquet"
    )
    before = snapshot(work)
    broken = external_inputs(
        **{
            "burn_probability.2011": "bad/truncated.tif",
            "burn_probability.2047": "bad/scaled.tif",
            "crps": "bad/degrees.tif",
            "rps": "bad/nocrs.tif",
            "buildings": "bad/nogeometry.parquet",
        }
    )
    write_config(work, config_in(work), broken, "broken.yaml")
    proc = run_snakemake(work, "--cores", "2", configfile=work / "broken.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for key, words in {
        "inputs.burn_probability.2011": "cannot be opened as a raster",
        "inputs.burn_probability.2047": "outside [0, 1]",
        "inputs.crps": "EPSG:4326 is in degrees",
        "inputs.rps": "has no CRS",
        "inputs.buildings": "which the file lacks",
    }.items():
        assert any(key in line and words in line for line in out.splitlines()), (key, out[-6000:])
    assert not any(f"rule {rule}:" in out for rule in REGION_RULES), out[-6000:]
    assert snapshot(work) == before
    assert not list((work / "results" / "store" / "regions").glob("*.stale"))
    # The config put back: nothing to do.
    stats, _ = planned(work)
    assert stats == {}, stats


def test_a_region_job_failing_on_a_remote_input_logs_region_input_traceback_and_fix(
    work: Path,
    s3_endpoint: str,
) -> None:
    """A remote raster is checked by its header only, so values out of range fail the region job
    that reads them: its log (not only the console) names the job, the input and the fix."""
    import boto3
    from s3server import new_bucket

    with rasterio.open(work / "ext" / "riley2025" / "BP_2047ClimateRun.tif") as src:
        data, profile = src.read(), src.profile
    permille = work / "permille.tif"
    with np.errstate(over="ignore"):  # nodata overflows; only the burnable pixels matter
        rewrite(permille, np.where(data > 0, data * 1000, data), profile)
    bucket = new_bucket(s3_endpoint)
    boto3.client("s3", endpoint_url=s3_endpoint).upload_file(str(permille), bucket, "BP_2047.tif")
    location = f"s3://{bucket}/BP_2047.tif"
    write_config(work, config_in(work), external_inputs(**{"burn_probability.2047": location}), "remote.yaml")
    region = "y1_x1"
    proc = run_snakemake(
        work,
        "--cores",
        "2",
        PATHS.region(PATHS.region_sentinel_pattern, region),
        configfile=work / "remote.yaml",
        env={"AWS_ENDPOINT_URL": s3_endpoint},
        check=False,
    )
    assert proc.returncode != 0, proc.stderr[-4000:]
    log = (work / PATHS.log("wind_region").format(region_id=region)).read_text()
    assert f"rule wind_region (region_id={region}): started" in log, log
    assert f"rule wind_region (region_id={region}) failed:" in log and "Traceback (most recent call last):" in log
    error = next(line for line in log.splitlines() if line.startswith("windrisk.inputs.InputError: "))
    assert f"inputs.burn_probability.2047 ({location}):" in error and "outside [0, 1]" in error, error
    assert "Fix: use the product as published" in error


def rewrite(path: Path, data: np.ndarray, profile: dict) -> None:
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def test_a_missing_input_is_an_error_never_generated(work: Path) -> None:
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["inputs"]["crps"] = "resources/demo/scott2024/CRPS_typo.tif"  # demo: still present
    path = work / "typo.yaml"
    path.write_text(yaml.safe_dump(raw))
    proc = run_snakemake(work, "-n", configfile=path, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "inputs.crps (resources/demo/scott2024/CRPS_typo.tif): the file does not exist" in out
    assert not (work / "resources" / "demo" / "scott2024" / "CRPS_typo.tif").exists()


def test_changed_buildings_rerun_only_the_building_steps(work: Path) -> None:
    table = pq.read_table(work / "ext" / "overture" / "buildings.parquet")
    pq.write_table(table.slice(0, table.num_rows - 1), work / "ext" / "fewer.parquet")
    write_config(work, config_in(work), external_inputs(buildings="ext/fewer.parquet"))
    stats, _ = planned(work)
    assert "wind_region" not in stats and "wind_distribution" not in stats
    assert stats["buildings_region"] == 12 and stats["aggregate_conus"] == 1


def test_deleted_sentinels_are_adopted_from_the_store(work: Path) -> None:
    sentinels = work / "results" / "store" / "regions"
    before = {p.name: p.read_bytes() for p in sentinels.glob("*.json")}
    shutil.rmtree(sentinels)
    stats, out = planned(work)
    assert "12 region(s) adopted from the store" in out
    assert {p.name: p.read_bytes() for p in sentinels.glob("*.json")} == before
    assert stats == {}, stats


def test_a_deleted_store_is_recomputed_loudly(work: Path) -> None:
    shutil.rmtree(work / "results" / "store.icechunk")
    stats, out = planned(work)
    assert "the store they name is gone" in out
    assert stats["store_template"] == 1 and stats["wind_region"] == 12 and stats["buildings_region"] == 12
    assert len(list((work / "results" / "store" / "regions").glob("*.json.stale"))) == 12


def test_every_demo_building_is_accounted_for(demo_run: Path, demo_cfg: Settings) -> None:
    """Input rows = written + dropped + outside the grid, counted independently with shapely."""
    table = pq.read_table(demo_cfg.inputs.buildings)
    centroids = shapely.centroid(shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False)))
    grid = demo_cfg.region_grid()
    outside = int((grid.region_of_points(shapely.get_x(centroids), shapely.get_y(centroids)) == "").sum())
    accounting = json.loads((demo_run / PATHS.buildings_accounting).read_text())
    written = pq.ParquetFile(demo_run / PATHS.conus_buildings).metadata.num_rows
    assert outside > 0 and accounting["outside_grid"] == outside
    assert accounting["input_rows"] == table.num_rows == written + outside
    assert accounting["written"] == written
    log = (demo_run / "results" / "logs" / "check_inputs").glob("buildings-*.log")
    assert any(f'"outside_grid": {outside}' in p.read_text() for p in log)
