"""``windrisk store status|verify|gc`` on a real local store with a schema-valid config."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _store_worker import PROVENANCE, SMALL_GRID, delete_chunk, expected_arrays, region_chunk_ids

from windrisk import cli, store, store_cli
from windrisk.paths import RunPaths
from windrisk.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def configfile(tmp_path: Path) -> Path:
    """The demo config on the small 4 x 5-region grid, results and store under tmp_path."""
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    raw["grid"].update(SMALL_GRID)
    raw["results"] = str(tmp_path / "results")
    raw["store"]["url"] = str(tmp_path / "store.icechunk")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def fill(configfile: Path, rids: list[str]) -> Settings:
    """Template plus the given regions, with sentinels; returns the settings."""
    cfg = load_settings(configfile)
    grid = cfg.region_grid()
    paths = RunPaths(cfg.results)
    store.ensure_template(cfg, grid)
    for rid in rids:
        payload = store.write_region(cfg, grid, rid, expected_arrays(grid, rid), PROVENANCE)
        store.write_sentinel(store.sentinel_path(paths, rid), payload)
    return cfg


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["store", *argv])
    return code, capsys.readouterr().out


def test_status_json_counts(configfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(configfile, ["y0_x0", "y1_x1", "y2_x3"])
    code, out = run(capsys, "status", "--configfile", str(configfile), "--json")
    report = json.loads(out)
    assert code == 0 and report["counts"] == {"done": 3, "missing": 17, "stale": 0, "unrecorded": 0}
    code, out = run(capsys, "status", "--configfile", str(configfile))
    assert code == 0 and "done" in out and "y2_x3" in out


def test_verify_passes_then_fails_on_tampered_sentinel(configfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = fill(configfile, ["y1_x1", "y3_x4"])
    assert run(capsys, "verify", "--configfile", str(configfile))[0] == 0
    path = store.sentinel_path(RunPaths(cfg.results), "y3_x4")
    payload = json.loads(path.read_text())
    payload["data_sha256"] = "0" * 64
    path.write_text(json.dumps(payload))
    code, out = run(capsys, "verify", "--configfile", str(configfile))
    assert code == 1 and "FAIL y3_x4" in out and "y1_x1" not in out


def test_verify_lists_every_damaged_region_without_a_traceback(configfile: Path, capsys) -> None:
    """Issue 16: one region's chunk deleted (gc during a run), another's corrupted on disk."""
    cfg = fill(configfile, ["y1_x1", "y2_x2", "y3_x4"])
    grid = cfg.region_grid()
    deleted = region_chunk_ids(cfg, grid, "y1_x1")["crps"]
    delete_chunk(cfg, deleted)
    corrupt = Path(cfg.store.url) / "chunks" / region_chunk_ids(cfg, grid, "y2_x2")["rps"]
    corrupt.write_bytes(b"\0" * corrupt.stat().st_size)
    code, out = run(capsys, "verify", "--configfile", str(configfile))
    assert code == 1 and "Traceback" not in capsys.readouterr().err
    assert f"FAIL y1_x1: 1 chunk object(s) of its data are gone from the store (crps chunks/{deleted})" in out
    assert "FAIL y2_x2: its data at" in out and "unreadable" in out and "delete" in out
    assert "verified 1 of 3 region sentinels" in out
    code, out = run(capsys, "status", "--configfile", str(configfile), "--json")
    report = json.loads(out)
    assert report["counts"]["done"] == 2 and report["counts"]["stale"] == 1  # corruption is verify's to find
    assert [r["region_id"] for r in report["regions"] if r["state"] == "stale"] == ["y1_x1"]


def test_status_after_store_reset_reports_stale(configfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = fill(configfile, ["y1_x1"])
    shutil.rmtree(cfg.store.url)
    store.ensure_template(cfg, cfg.region_grid())
    code, out = run(capsys, "status", "--configfile", str(configfile), "--json")
    assert code == 0 and json.loads(out)["counts"]["stale"] == 1
    assert run(capsys, "verify", "--configfile", str(configfile))[0] == 1


def test_config_override_points_at_another_store(configfile: Path, tmp_path: Path, capsys) -> None:
    fill(configfile, ["y1_x1"])
    other = f"store.url={tmp_path / 'nowhere.icechunk'}"
    code, out = run(capsys, "status", "--configfile", str(configfile), "--config", other, "--json")
    assert code == 0 and json.loads(out)["counts"]["stale"] == 1  # sentinel exists, store does not
    assert not (tmp_path / "nowhere.icechunk").exists()


def test_gc_keeps_what_sentinels_name(configfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fill(configfile, ["y1_x1", "y1_x1", "y2_x2"])
    code, out = run(capsys, "gc", "--configfile", str(configfile), "--older-than", "0s", "--dry-run")
    assert code == 0 and json.loads(out)["dry_run"] is True
    code, out = run(capsys, "gc", "--configfile", str(configfile), "--older-than", "0s")
    report = json.loads(out)
    assert code == 0 and report["kept_for_sentinels"] == 2 and "1852" in report["note"]
    assert run(capsys, "verify", "--configfile", str(configfile))[0] == 0


def test_bad_input_names_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["store", "status", "--configfile", str(tmp_path / "missing.yaml")]) == 2
    assert "--configfile" in capsys.readouterr().err


def test_status_help_names_what_status_prints(configfile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 14: the help described another output; every key --json prints is named in it."""
    code, out = run(capsys, "status", "--configfile", str(configfile), "--json")
    report = json.loads(out)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["store", "status", "--help"])
    help_ = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert code == 0 and exit_.value.code == 0
    for key in [*report, *report["counts"], *report["regions"][0]]:
        assert key in help_, key
    assert f"the first {store_cli.STATUS_SHOWN} of their ids" in help_


def test_closed_pipe_exits_quietly(configfile: Path) -> None:
    """Issue 14: `windrisk store status --json | head -1` ended in a BrokenPipeError."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written, as after `head -1`
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "windrisk.cli", "store", "status", "--configfile", str(configfile), "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        os.close(write_end)
    assert "BrokenPipeError" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1  # what Python itself exits with on EPIPE
