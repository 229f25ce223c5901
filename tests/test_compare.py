"""``windrisk compare``: the differences it reports, by hand, and on a finished demo run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import DEMO_CONFIG

from windrisk import buildings, compare
from windrisk.grid import RegionGrid


def test_difference_stats_by_hand() -> None:
    ran = np.array([0.0, 1.0, np.nan, 2.0, np.nan], dtype=np.float32)
    other = np.array([0.0, 1.5, 1.0, 2.0 + 1e-9, np.nan], dtype=np.float64)
    stats, sample = compare.difference_stats(ran, other)
    # valid in both: pixels 0, 1, 3 with differences 0, 0.5 and ~1e-9
    assert stats["pixels"] == 3 and stats["max_abs"] == 0.5 and stats["valid_in_one_only"] == 1
    assert stats["median_abs"] < 1e-8 and stats["share_changed"] == pytest.approx(1 / 3)
    assert max(sample.tolist()) == 0.5


def test_score_changes_count_values_and_nulls() -> None:
    grid = RegionGrid.from_config(
        {"crs": "EPSG:4326", "transform": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], "shape": [2, 2], "chunks": [2, 2]}
    )
    x, y = np.array([0.5, 1.5, 0.5, 1.5]), np.array([0.5, 0.5, 1.5, 1.5])  # one building per pixel
    stored = np.array([[0.005, 0.03], [np.nan, 2.0]], dtype=np.float32)  # scores 1, 3, null, 9
    other = np.array([[0.005, 0.04], [0.5, np.nan]], dtype=np.float32)  # scores 1, 4, 7, null
    table = pa.table(
        {
            "geometry": buildings.point_array(x, y),
            "score_2011": buildings.score(stored[[0, 0, 1, 1], [0, 1, 0, 1]]),
            "score_2047": buildings.score(stored[[0, 0, 1, 1], [0, 1, 0, 1]]),
        }
    )
    out = compare.score_changes(table, grid, "y0_x0", {"rps_2011": other, "rps_2047": stored})
    assert out == {"buildings": 4, "score_2011_changed": 3, "score_2047_changed": 0}


def test_compare_a_finished_demo_region(demo_run: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(demo_run)
    assert compare.main(["--configfile", str(DEMO_CONFIG), "--regions", "y1_x2,y2_x1"]) == 0
    assert "buildings whose score_2011 changes" in capsys.readouterr().out
    result = json.loads(Path("results/report/compare-methods.json").read_text())
    assert result["run"] == "windrisk" and result["other"] == "ocr-v1.1.0"
    assert result["regions_compared"] == ["y1_x2", "y2_x1"]
    summary = result["summary"]
    for name in compare.COMPARED:
        assert summary[name]["max_abs"] > 1e-6, name  # the methods differ ...
        assert summary[name]["median_abs"] <= summary[name]["max_abs"]
        assert 0 < summary[name]["share_changed"] < 1, name  # ... but not everywhere
    rows = sum(pq.read_metadata(f"results/regions/{rid}.parquet").num_rows for rid in ("y1_x2", "y2_x1"))
    assert summary["buildings"] == rows > 0
    assert 0 <= summary["score_2011_share_changed"] < 0.5
