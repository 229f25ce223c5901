"""The run report: quick-looks read from a small store, score counts, benchmark table, and
`snakemake --report` on the demo run."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DEMO_CONFIG, run_snakemake

from windrisk.grid import RegionGrid, Window
from windrisk.report import (
    Mosaic,
    benchmark_summary,
    block_mean,
    north_up,
    overview,
    overview_frames,
    plot_score_distribution,
    quicklook_region,
    score_counts,
    write_benchmark_csv,
    write_benchmark_html,
)
from windrisk.settings import Settings, load_settings
from windrisk.variables import VARIABLES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ---- a small store: 2 x 3 regions of 20 x 20 px, rows ascending northward -------------------
@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, RegionGrid, dict[str, Path], np.ndarray]:
    """A store whose rps_2011 is ``global_row * 1000 + global_col`` (rps_2047 twice that)."""
    from windrisk.store import ensure_template, write_region, write_sentinel

    root = tmp_path_factory.mktemp("small_store")
    cfg = load_settings(
        DEMO_CONFIG,
        {
            "results": str(root / "results"),
            "store": {"url": str(root / "store.icechunk")},
            "grid": {"transform": [0.01, 0.0, -123.0, 0.0, 0.01, 38.0], "shape": [40, 55], "chunks": [20, 20]},
        },
    )
    grid = cfg.region_grid()
    ensure_template(cfg, grid)
    rows, cols = np.mgrid[0 : grid.shape[0], 0 : grid.shape[1]]
    full = (rows * 1000 + cols).astype(np.float32)
    sentinels = {}
    for rid in grid.all_region_ids:
        r, c = grid.region_slices(rid)
        arrays = {name: np.full(grid.region_window(rid).shape, np.nan, np.float32) for name in VARIABLES}
        arrays["rps_2011"], arrays["rps_2047"] = full[r, c], 2 * full[r, c]
        sentinels[rid] = root / f"{rid}.json"
        write_sentinel(sentinels[rid], write_region(cfg, grid, rid, arrays, {"inputs": {}}))
    return cfg, grid, sentinels, full


@pytest.mark.parametrize("step", [1, 2, 5])
def test_overview_mosaic_matches_block_means_of_the_grid(small_store, step: int) -> None:
    cfg, grid, sentinels, full = small_store
    frames = overview_frames(cfg, grid, sentinels, Mosaic(grid.full_window, step))
    np.testing.assert_array_equal(frames["rps_2011"], block_mean(full, step))
    np.testing.assert_array_equal(frames["rps_2047"], block_mean(2 * full, step))


def test_overview_of_some_regions_covers_only_them(small_store) -> None:
    cfg, grid, sentinels, full = small_store
    some = {rid: sentinels[rid] for rid in ("y1_x1", "y1_x2")}
    mosaic = Mosaic.covering(grid, list(some), max_px=10)
    assert mosaic.window == Window(20, 40, 20, 55) and mosaic.step == 4  # 4 divides the 20-px chunks
    frames = overview_frames(cfg, grid, some, mosaic)
    np.testing.assert_array_equal(frames["rps_2011"], block_mean(full[20:40, 20:55], 4))


def test_overview_opens_the_store_once(small_store, monkeypatch: pytest.MonkeyPatch) -> None:
    from windrisk import store

    cfg, grid, sentinels, _ = small_store
    opened = []
    real_open = store.open_repo
    monkeypatch.setattr(store, "open_repo", lambda *a, **k: opened.append(1) or real_open(*a, **k))
    overview_frames(cfg, grid, sentinels, Mosaic(grid.full_window, 5))
    assert len(opened) == 1  # was one per region: ~2.3 s each on S3


def test_region_groups_read_an_older_snapshot_at_that_snapshot(small_store) -> None:
    from windrisk import store

    cfg, grid, sentinels, full = small_store
    first = store.read_sentinel(sentinels["y0_x0"])["snapshot_id"]  # y0_x1 not yet written there
    ((rid, group),) = store.region_groups(cfg, {"y0_x1": first})
    rows, cols = grid.region_slices(rid)
    assert np.isnan(group["rps_2011"][rows, cols]).all()
    ((_, tip),) = store.region_groups(cfg, {"y0_x1": store.read_sentinel(sentinels["y0_x1"])["snapshot_id"]})
    np.testing.assert_array_equal(tip["rps_2011"][rows, cols], full[rows, cols])


def test_block_mean_ignores_nan_and_keeps_partial_blocks() -> None:
    a = np.array([[1, 3, 5], [np.nan, 2, np.nan], [np.nan, np.nan, 7]], dtype=np.float32)
    np.testing.assert_array_equal(block_mean(a, 2), np.array([[2, 5], [np.nan, 7]], dtype=np.float32))


def test_north_up_flips_grids_whose_rows_ascend_north(small_store) -> None:
    _, grid, _, full = small_store
    assert grid.rows_ascend_north
    assert north_up(full, grid)[0, 0] == full[-1, 0]  # top of the image = northern-most row


def test_quicklook_and_overview_pngs(small_store, tmp_path: Path) -> None:
    cfg, grid, sentinels, _ = small_store
    for png in (
        quicklook_region(cfg, grid, "y0_x1", sentinels["y0_x1"], tmp_path / "region.png"),
        overview(cfg, grid, sentinels, tmp_path / "overview.png"),
    ):
        assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 10_000


# ---- scores and benchmarks ------------------------------------------------------------------
def test_score_counts_streams_columns(tmp_path: Path) -> None:
    parquet = tmp_path / "b.parquet"
    table = pa.table(
        {
            "id": ["a", "b", "c", "d", "e"],
            "score_2011": pa.array([0, 10, 10, None, 3], pa.uint8()),
            "score_2047": pa.array([1, 10, None, None, 3], pa.uint8()),
        }
    )
    pq.write_table(table, parquet, row_group_size=2)
    counts = score_counts(parquet)
    assert counts["2011"].tolist() == [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 1]
    assert counts["2047"].tolist() == [0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2]
    png = plot_score_distribution(counts, tmp_path / "scores.png")
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_benchmark_summary(tmp_path: Path) -> None:
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (tmp_path / "wind_region").mkdir()
    (tmp_path / "wind_region" / "y0_x0.tsv").write_text(header + "2.0\t0:00:02\t100.5\t1\t1\t1\t0\t0\t50\t1.5\n")
    (tmp_path / "wind_region" / "y0_x1.tsv").write_text(header + "4.0\t0:00:04\t200.0\t1\t1\t1\t0\t0\t50\t3.5\n")
    (tmp_path / "map_page").mkdir()
    (tmp_path / "map_page" / "map_page.tsv").write_text(header + "0.5\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    rows = benchmark_summary(tmp_path)
    assert [r["rule"] for r in rows] == ["map_page", "wind_region"]
    wind = rows[1]
    assert (wind["jobs"], wind["total_s"], wind["mean_s"], wind["max_s"]) == (2, 6.0, 3.0, 4.0)
    assert (wind["max_rss_mb"], wind["cpu_s"]) == (200.0, 5.0)
    assert "wind_region" in write_benchmark_html(rows, tmp_path / "b.html").read_text()
    assert write_benchmark_csv(rows, tmp_path / "b.csv").read_text().splitlines()[0].startswith("rule,jobs")


# ---- the demo run's report ------------------------------------------------------------------
@pytest.mark.slow
def test_demo_report(demo_run: Path, demo_cfg: Settings, tmp_path: Path) -> None:
    work = tmp_path / "work"  # a copy: other tests copy or read the shared demo run meanwhile
    shutil.copytree(demo_run, work, symlinks=True)
    report_zip = work / "report.zip"
    run_snakemake(work, "--report", str(report_zip))
    grid = demo_cfg.region_grid()
    with zipfile.ZipFile(report_zip) as archive:
        members = {Path(name).name: name for name in archive.namelist()}
        pngs = {name: archive.read(path) for name, path in members.items() if name.endswith(".png")}
        expected = {f"{rid}.png" for rid in grid.all_region_ids} | {"overview.png", "scores.png"}
        assert expected <= set(pngs), f"missing {expected - set(pngs)}"
        for name in expected:
            assert pngs[name].startswith(PNG_MAGIC) and len(pngs[name]) > 10_000, name
        assert {"benchmarks.html", "benchmarks.csv"} <= set(members)
        table = archive.read(members["benchmarks.csv"]).decode()
        for rule in ("wind_region", "buildings_region", "pmtiles"):
            assert rule in table
