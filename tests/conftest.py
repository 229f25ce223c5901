"""Shared fixtures: the repository, Snakemake runner, and one demo run reused by many tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine

from windrisk.config import load_config
from windrisk.settings import Settings

# The moto S3 server fixtures (s3_endpoint, s3_client) for every test module.
pytest_plugins = ("s3server",)
REPO = Path(__file__).resolve().parents[1]
DEMO_CONFIG = REPO / "config" / "config.yaml"
CONUS_CONFIG = REPO / "config" / "conus.yaml"


def snakemake_cmd(workdir: Path, *args: str, configfile: Path = DEMO_CONFIG) -> list[str]:
    """The command running this repository's workflow in ``workdir`` (outputs land there)."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]


def run_snakemake(
    workdir: Path,
    *args: str,
    configfile: Path = DEMO_CONFIG,
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 1200,
) -> subprocess.CompletedProcess[str]:
    """Run this repository's workflow in ``workdir`` (outputs land there, not in the repo)."""
    cmd = snakemake_cmd(workdir, *args, configfile=configfile)
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-8000:]}\n--- stderr ---\n{proc.stderr[-8000:]}"
        )
    return proc


def demo_settings(**sections: Any) -> Settings:
    """The demo config's settings with whole top-level sections replaced (e.g. ``inputs=...``)."""
    return Settings.of({**yaml.safe_load(DEMO_CONFIG.read_text()), **sections})


def demo_config_in(workdir: Path) -> Settings:
    """The demo settings with their relative paths anchored in ``workdir``."""
    cfg = load_config(DEMO_CONFIG)

    def anchor(location: str) -> str:
        return location if "://" in location else str(workdir / location)

    cfg["results"] = anchor(cfg["results"])
    cfg["store"]["url"] = anchor(cfg["store"]["url"])
    inputs = cfg["inputs"]
    inputs["burn_probability"] = {k: anchor(v) for k, v in inputs["burn_probability"].items()}
    for key in ("crps", "rps", "buildings"):
        inputs[key] = anchor(inputs[key])
    inputs["wind"] = {k: anchor(v) if k in ("hourly", "distribution") else v for k, v in inputs["wind"].items()}
    cfg["demo"]["dir"] = anchor(cfg["demo"]["dir"])
    return Settings.of(cfg)


# `make test` runs two pytest-xdist workers (--dist loadgroup). A session fixture is made once
# per worker, so every test of the demo run shares one worker (the run is made once), and the
# tests of the one-node Slurm cluster share another (they would compete for its CPUs).
SHARED_FIXTURE_GROUPS = {"demo_run": "demo_run", "slurm_cluster": "slurm"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        group = next((g for name, g in SHARED_FIXTURE_GROUPS.items() if name in names), None)
        if group is None and item.get_closest_marker("slurm"):
            group = "slurm"
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the whole demo workflow once; return the workdir (outputs under ``results/``)."""
    workdir = tmp_path_factory.mktemp("demo_run")
    run_snakemake(workdir, "--cores", "2")
    return workdir


@pytest.fixture(scope="session")
def demo_cfg(demo_run: Path) -> Settings:
    return demo_config_in(demo_run)


def write_tif(path: Path, data: np.ndarray, crs: str | None, transform: Affine, nodata: float | None) -> Path:
    """A GeoTIFF of (band, row, col) or (row, col) data, written by rasterio itself."""
    data = data if data.ndim == 3 else data[None]
    profile = {
        "driver": "GTiff",
        "dtype": data.dtype.name,
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "transform": transform,
        "nodata": nodata,
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path
