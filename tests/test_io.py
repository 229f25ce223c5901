"""windrisk.io.job_logging: what a Snakemake script job leaves in its rule's log.

The job object is Snakemake's own (``snakemake.iocontainers.Snakemake``, what a script's preamble
builds), and the failures are the package's real errors, raised by the package.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from snakemake.iocontainers import (
    InputFiles,
    Log,
    OutputFiles,
    Params,
    ResourceList,
    Snakemake,
    Wildcards,
)

from windrisk.io import job_logging
from windrisk.rasters import open_raster
from windrisk.store import StoreError, read_sentinel


def job(log: Path | None, rule: str = "wind_region", **wildcards: str) -> Snakemake:
    return Snakemake(
        InputFiles(),
        OutputFiles(),
        Params(),
        Wildcards(fromdict=wildcards),
        2,
        ResourceList(fromdict={"_cores": 2, "mem_mb": 4000, "runtime": 30}),
        Log([str(log)] if log else []),
        {},
        rule,
        None,
    )


def test_records_go_to_the_log_after_a_line_naming_the_job(tmp_path: Path) -> None:
    log = tmp_path / "y1_x1.log"
    handlers = list(logging.getLogger().handlers)
    with job_logging(job(log, region_id="y1_x1")) as logger:
        logger.info("region %s: 42 buildings", "y1_x1")
        logging.getLogger("windrisk.store").debug("not at INFO")
    lines = log.read_text().splitlines()
    assert "rule wind_region (region_id=y1_x1): started, 2 thread(s), mem_mb 4000, runtime 30" in lines[0]
    assert "windrisk.wind_region: region y1_x1: 42 buildings" in lines[1]
    assert "rule wind_region (region_id=y1_x1): done" in lines[-1]
    assert "not at INFO" not in log.read_text()
    # The handler is gone afterwards: a later record does not reach this log.
    assert logging.getLogger().handlers == handlers
    logging.getLogger("windrisk").warning("after the job")
    assert "after the job" not in log.read_text()


def test_an_input_error_is_logged_with_its_traceback_and_still_fails_the_job(tmp_path: Path) -> None:
    log = tmp_path / "y2_x3.log"
    missing = tmp_path / "BP_2047.tif"
    with (
        pytest.raises(ValueError, match="Fix:"),
        job_logging(job(log, region_id="y2_x3")),
        open_raster(str(missing), "inputs.burn_probability.2047"),
    ):
        pass
    text = log.read_text()
    assert "rule wind_region (region_id=y2_x3) failed:" in text
    assert "Traceback (most recent call last):" in text and "in open_raster" in text
    assert f"InputError: inputs.burn_probability.2047: file does not exist ({missing}). Fix: set" in text


def test_a_store_error_reaches_the_log_of_a_rule_without_wildcards(tmp_path: Path) -> None:
    log = tmp_path / "aggregate_conus.log"
    sentinel = tmp_path / "y0_x1.json"
    sentinel.write_text('{"snapshot": ')  # cut short, as by a full disk
    with pytest.raises(StoreError), job_logging(job(log, rule="aggregate_conus")):
        read_sentinel(sentinel)
    text = log.read_text()
    assert "rule aggregate_conus: started" in text and "rule aggregate_conus failed:" in text
    assert f"StoreError: region sentinel {sentinel} is unreadable" in text and "delete it to re-run" in text


def test_a_clean_exit_is_not_logged_as_a_failure(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    with pytest.raises(SystemExit), job_logging(job(log, rule="map_page")):
        raise SystemExit(0)
    assert "failed" not in log.read_text()


def test_without_a_log_file_records_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with job_logging(job(None, rule="report_scores")) as logger:
        logger.info("plotted")
    assert "rule report_scores: started" in capsys.readouterr().err
