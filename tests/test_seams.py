"""No seams: on the demo grid every region computed alone equals the whole grid computed at once.

"The whole grid at once" uses that region's kernels (they depend on the region centre's
latitude) over the full grid window, then crops the region. The buffer is set to exactly
``required_halo_px``, so the test also proves the halo formula sufficient. The demo inputs are
generated with ``windrisk.demo`` into a temp folder and read through the real loaders; the fast
path is also checked against the oracle of ``test_wind`` on a real buffered window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import demo_config_in
from test_ocr_compat import published_wind_informed_bp
from test_wind import oracle_wind_informed_bp

from windrisk import ocr_compat, wind
from windrisk.demo import generate_demo_inputs
from windrisk.fireweather import derive_distribution
from windrisk.grid import Window
from windrisk.rasters import read_on_grid
from windrisk.settings import Settings
from windrisk.variables import CLIMATE_RUNS, VARIABLES

TOL = 1e-6


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str]:
    """Demo inputs and their derived wind distribution in a temp folder; buffer = required halo."""
    workdir = tmp_path_factory.mktemp("wind_demo")
    cfg = demo_config_in(workdir).updated({"demo": {"hours": 240, "n_buildings": 1000}})
    generate_demo_inputs(cfg)
    distribution = str(workdir / "wind_direction_distribution.tif")
    derive_distribution(cfg.inputs.wind.hourly, distribution, cfg.inputs.wind.wind_speed_unit)
    grid = cfg.region_grid()
    halo = max(wind.required_halo_px(grid.pixel_size_m(r)) for r in grid.all_region_ids)
    return cfg.updated({"grid": {"buffer_px": halo}}), distribution


@pytest.fixture(scope="module")
def alone(demo: tuple[Settings, str]) -> dict[str, dict[str, np.ndarray]]:
    """Every demo region computed alone by compute_region."""
    cfg, distribution = demo
    grid = cfg.region_grid()
    return {rid: wind.compute_region(cfg, grid, rid, distribution) for rid in grid.all_region_ids}


@pytest.fixture(scope="module")
def whole(demo: tuple[Settings, str]) -> wind.WindowInputs:
    """The inputs on the whole grid window, read like a region's."""
    cfg, distribution = demo
    grid = cfg.region_grid()
    return wind.load_window_inputs(cfg, grid, grid.full_window, distribution)


def reached_by_spreading(
    bp: np.ndarray, distribution: np.ndarray, size: tuple[float, float], rows_ascend_north: bool
) -> np.ndarray:
    """True where BP is 0 on land but the spreading gives a value (composite > 0)."""
    comp = wind.composite(bp, distribution, wind.direction_kernels(size, rows_ascend_north))
    return (bp == 0) & (comp > 0)


def test_every_region_alone_equals_the_whole_grid(
    demo: tuple[Settings, str], whole: wind.WindowInputs, alone: dict[str, dict[str, np.ndarray]]
) -> None:
    cfg, _ = demo
    grid = cfg.region_grid()
    by_size: dict[tuple[float, float], dict[str, np.ndarray]] = {}
    for rid in grid.all_region_ids:
        size = grid.pixel_size_m(rid)
        # One whole-grid computation per kernel set (chunk row); 2047 on the first only, for time.
        runs = CLIMATE_RUNS if not by_size else CLIMATE_RUNS[:1]
        if size not in by_size:
            by_size[size] = {
                run: wind.wind_informed_bp(whole.bp[run], whole.distribution, size, grid.rows_ascend_north)
                for run in runs
            }
        out = alone[rid]
        assert list(out) == list(VARIABLES)
        rows, cols = grid.region_slices(rid)
        for run, full in by_size[size].items():
            got, want = out[f"bp_{run}"], full[rows, cols]
            assert got.shape == grid.region_window(rid).shape and got.dtype == np.float32
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{rid} {run}")
            if not np.isnan(want).all():
                assert np.nanmax(np.abs(got - want)) <= TOL, (rid, run)
        for run in CLIMATE_RUNS:
            np.testing.assert_array_equal(out[f"rps_{run}"], out[f"bp_{run}"] * out["crps"])
    assert len(by_size) == grid.n_chunks[0]
    # A land region has values; the ocean column (x0) is NaN.
    some = alone["y1_x2"]
    assert np.isfinite(some["bp_2011"]).mean() > 0.9 and np.nanmin(some["bp_2011"]) >= 0
    assert (some["bp_2047"] >= some["bp_2011"] - 1e-9)[np.isfinite(some["bp_2011"])].mean() > 0.95
    assert np.isnan(alone["y1_x0"]["bp_2011"]).all()


def test_spreading_changes_much_of_every_land_region(demo: tuple[Settings, str], whole: wind.WindowInputs) -> None:
    """Not vacuous: the seams compared above hold values the spreading made, on every land region."""
    cfg, _ = demo
    grid = cfg.region_grid()
    bp = whole.bp["2011"]
    size = grid.pixel_size_m(grid.all_region_ids[0])
    reached = reached_by_spreading(bp, whole.distribution, size, grid.rows_ascend_north)
    shares = {}  # land region → share of its land pixels reached
    for rid in grid.all_region_ids:
        land = np.isfinite(bp[grid.region_slices(rid)])
        if land.any():
            shares[rid] = float(reached[grid.region_slices(rid)][land].mean())
    assert len(shares) == 9 and min(shares.values()) >= 0.1, shares


def test_fast_path_matches_oracle_on_demo_data(demo: tuple[Settings, str]) -> None:
    cfg, distribution = demo
    grid = cfg.region_grid()
    # Across regions y0_x1..y0_x3: ocean (NaN), coast, non-burnable zeros, gap-filled zeros.
    window = Window(0, 400, 550, 1500)
    inputs = wind.load_window_inputs(cfg, grid, window, distribution)
    size = grid.pixel_size_m("y0_x1")
    bp = inputs.bp["2011"]
    assert np.isnan(bp).any() and (bp == 0).any() and (bp > 0).any()
    reached = reached_by_spreading(bp, inputs.distribution, size, grid.rows_ascend_north)
    assert reached.sum() >= 0.1 * np.isfinite(bp).sum()  # the spreading changes many values
    fast = wind.wind_informed_bp(bp, inputs.distribution, size, grid.rows_ascend_north)
    ref = oracle_wind_informed_bp(bp, inputs.distribution.values(), size, grid.rows_ascend_north)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    assert np.nanmax(np.abs(fast - ref)) <= TOL


def test_gap_fill_and_riley_outputs(demo: tuple[Settings, str], alone: dict[str, dict[str, np.ndarray]]) -> None:
    cfg, distribution = demo
    grid = cfg.region_grid()
    window = grid.region_window("y1_x2")
    raw = read_on_grid(cfg.inputs.burn_probability["2011"], grid, window, name="bp")
    filled = wind.load_window_inputs(cfg, grid, window, distribution).bp["2011"]
    changed = raw != filled
    assert changed.any() and (raw[changed] == 0).all() and (filled[changed] > 0).all()
    np.testing.assert_array_equal(alone["y1_x2"]["bp_2011_riley"], raw)  # unmodified input


def test_too_small_a_buffer_is_refused(demo: tuple[Settings, str]) -> None:
    cfg, distribution = demo
    grid = cfg.region_grid()
    small = cfg.updated({"grid": {"buffer_px": 20}})
    with pytest.raises(ValueError, match=r"grid.buffer_px is 20 .* set grid.buffer_px >= "):
        wind.compute_region(small, grid, "y0_x0", distribution)


def test_a_distribution_without_8_bands_is_refused(demo: tuple[Settings, str], tmp_path: Path) -> None:
    cfg, distribution = demo
    grid = cfg.region_grid()
    bad = tmp_path / "one_band.tif"
    with rasterio.open(distribution) as src:
        profile = {**src.profile, "count": 1}
        data = src.read(1)
    with rasterio.open(bad, "w", **profile) as dst:
        dst.write(data, 1)
    with pytest.raises(ValueError, match="inputs.wind.distribution: .* 1 band"):
        wind.load_region_inputs(cfg, grid, "y0_x0", str(bad))


def test_compat_region_equals_the_published_arithmetic_on_demo_data(demo: tuple[Settings, str]) -> None:
    """A demo region in ``ocr-v1.1.0`` mode against the published functions re-stated on its window."""
    cfg, distribution = demo
    cfg = cfg.updated({"grid": {"buffer_px": 160}})  # the shipped buffer covers either layout
    grid = cfg.region_grid()
    rid = "y1_x2"
    got = wind.compute_region(cfg, grid, rid, distribution, ocr_compat.Deviations())["bp_2011"]
    window = grid.buffered_window(rid, 160)
    inputs = wind.load_window_inputs(cfg, grid, window, distribution)
    inner = grid.region_window(rid).relative_to(window)
    want = published_wind_informed_bp(inputs.bp["2011"], inputs.distribution.values(), grid, window)[inner]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.nanmax(np.abs(got - want)) <= TOL
    bp = inputs.bp["2011"][inner]
    assert (bp[np.isfinite(bp)] == 0).mean() > 0.25  # the spreading decides a quarter of the land
