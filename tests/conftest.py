"""Shared fixtures: the repository, Snakemake runner, and one demo run reused by many tests."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from pyproj import Transformer

from windrisk.config import load_config
from windrisk.grid import RegionGrid, Window
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
    inputs["boundaries"] = {k: v and anchor(v) for k, v in inputs["boundaries"].items()}
    cfg["demo"]["dir"] = anchor(cfg["demo"]["dir"])
    return Settings.of(cfg)


# Files whose tests run for minutes: started first, so the two xdist workers finish together.
LONG_FILES = ("test_slurm.py", "test_profiles.py", "test_store_concurrency.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order for `make test`'s two workers (--dist loadfile hands out files in this order): the
    first file needing the demo run starts it at once, the long files follow, and the other
    files needing the demo run come last, when it is made, so no worker waits for it."""
    uses_demo = {item.path.name for item in items if "demo_run" in getattr(item, "fixturenames", ())}
    first = next((item.path.name for item in items if item.path.name in uses_demo), None)

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        if name == first:
            return 0
        if name in LONG_FILES:
            return 1
        return 3 if name in uses_demo else 2

    items.sort(key=rank)  # stable: the order within each rank is kept


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the whole demo workflow once per test session; return the workdir (outputs under
    ``results/``). `make test` runs two pytest-xdist workers: the first to ask makes the run
    (under a lock) in the folder the workers share, the other waits for it and reads it too."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    workdir, done = shared / "demo_run", shared / "demo_run.done"
    with (shared / "demo_run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(workdir, ignore_errors=True)  # a run that failed on the other worker
            workdir.mkdir()
            run_snakemake(workdir, "--cores", "2")
            done.touch()
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


def native_under(grid: RegionGrid, window: Window, crs: str, res: float) -> tuple[np.ndarray, Affine, tuple[int, int]]:
    """Coded values (distinct per native pixel) covering ``window`` in ``crs`` at ``res`` metres, as a
    read window starting at native (7, 11) of a larger raster (indices are full-raster)."""
    bounds = Transformer.from_crs(grid.crs, crs, always_xy=True).transform_bounds(
        *grid.window_bounds(window), densify_pts=64
    )
    x0, y0 = np.floor(bounds[0] / res) * res - 20 * res, np.ceil(bounds[3] / res) * res + 20 * res
    offset = (7, 11)
    transform = Affine(res, 0, x0 - offset[1] * res, 0, -res, y0 + offset[0] * res)
    shape = (int((y0 - bounds[1]) / res) + 40, int((bounds[2] - x0) / res) + 40)
    # Distinct bit patterns (tiny positive floats): float32 integers are exact only up to 2**24,
    # fewer than a full region's native pixels, so a wrong pick could hide among equal values.
    codes = np.arange(shape[0] * shape[1], dtype=np.uint32).view(np.float32)
    return codes.reshape(1, *shape), transform, offset
