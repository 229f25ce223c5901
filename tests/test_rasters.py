"""windrisk.rasters: exact nearest reading of GeoTIFFs written by rasterio onto grid windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine
from conftest import native_under, write_tif
from pyproj import Transformer

from windrisk import rasters
from windrisk.grid import RegionGrid, Window
from windrisk.rasters import InputError, read_on_grid

F32_NODATA = -3.4028234663852886e38
# A small geographic grid with e > 0 (rows ascend north), 2 x 2 regions, and its north-up twin.
GRID = RegionGrid("EPSG:4326", Affine(0.001, 0, -100.0, 0, 0.001, 40.0), (40, 60), (20, 30))
GRID_NORTH_UP = RegionGrid("EPSG:4326", Affine(0.001, 0, -100.0, 0, -0.001, 40.04), (40, 60), (20, 30))
# A 0.002 deg north-up EPSG:4326 raster: lon -100.01..-99.91, lat 39.97..40.05.
GEO_TRANSFORM = Affine(0.002, 0, -100.01, 0, -0.002, 40.05)


def coded(shape: tuple[int, int], bands: int = 1) -> np.ndarray:
    """Values that say where they came from: band * 1e6 + row * 1000 + col (exact in float32)."""
    b, r, c = np.meshgrid(np.arange(bands), np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return (b * 1_000_000 + r * 1000 + c).astype(np.float32)


@pytest.fixture
def geo_tif(tmp_path: Path) -> Path:
    data = coded((40, 50))[0]
    data[24, 5] = -9999.0  # the native pixel under the grid's first two rows and columns
    data[23, 7] = np.nan
    return write_tif(tmp_path / "geo.tif", data, "EPSG:4326", GEO_TRANSFORM, -9999.0)


@pytest.fixture
def albers_tif(tmp_path: Path) -> tuple[Path, np.ndarray, Affine]:
    """A 30 m north-up EPSG:5070 raster covering GRID with a margin, with float32-lowest nodata."""
    xmin, ymin, xmax, ymax = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True).transform_bounds(
        *GRID.window_bounds(GRID.full_window), densify_pts=21
    )
    transform = Affine(30.0, 0, np.floor(xmin / 30) * 30 - 300, 0, -30.0, np.ceil(ymax / 30) * 30 + 300)
    shape = (int((transform.f - ymin) // 30) + 20, int((xmax - transform.c) // 30) + 20)
    data = coded(shape)[0]
    data[40:60, 40:70] = np.float32(F32_NODATA)
    data[10, 10:20] = np.inf
    path = write_tif(tmp_path / "albers.tif", data, "EPSG:5070", transform, F32_NODATA)
    expected = data.copy()
    expected[~np.isfinite(expected) | (expected == np.float32(F32_NODATA))] = np.nan
    return path, expected, transform


def expected_albers(grid: RegionGrid, window: Window, native: np.ndarray, transform: Affine) -> np.ndarray:
    """Hand-made exact nearest: each pixel centre to EPSG:5070, then the pixel containing it."""
    gx, gy = np.meshgrid(grid.x_coords(window.cols), grid.y_coords(window.rows))
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True).transform(gx, gy)
    col = np.floor((x - transform.c) / transform.a).astype(int)
    row = np.floor((y - transform.f) / transform.e).astype(int)
    return native[row, col]


def test_geographic_raster_nearest_by_hand(geo_tif: Path) -> None:
    out = read_on_grid(str(geo_tif), GRID, GRID.full_window, name="inputs.crps")
    assert out.shape == (40, 60) and out.dtype == np.float32
    r, c = np.meshgrid(np.arange(40), np.arange(60), indexing="ij")
    # Grid pixel (r, c) centre lies in native pixel (24 - r // 2, 5 + c // 2); see GEO_TRANSFORM.
    expected = ((24 - r // 2) * 1000 + (5 + c // 2)).astype(np.float32)
    expected[(24 - r // 2 == 24) & (5 + c // 2 == 5)] = np.nan  # nodata -9999
    expected[(24 - r // 2 == 23) & (5 + c // 2 == 7)] = np.nan  # NaN in the file
    np.testing.assert_array_equal(out, expected)
    assert np.isnan(out[:2, :2]).all() and np.isnan(out[2:4, 4:6]).all()


def test_north_up_grid_reads_the_same_ground(geo_tif: Path) -> None:
    out = read_on_grid(str(geo_tif), GRID_NORTH_UP, GRID_NORTH_UP.full_window, name="x")
    r, c = np.meshgrid(np.arange(40), np.arange(60), indexing="ij")
    expected = ((5 + r // 2) * 1000 + (5 + c // 2)).astype(np.float32)
    expected[38:, :2] = np.nan  # native (24, 5): nodata
    expected[36:38, 4:6] = np.nan  # native (23, 7): NaN
    np.testing.assert_array_equal(out, expected)
    # The same ground as the e > 0 grid, in the opposite row order.
    np.testing.assert_array_equal(out[::-1], read_on_grid(str(geo_tif), GRID, GRID.full_window, name="x"))


def test_albers_raster_nodata_and_nearest(albers_tif: tuple[Path, np.ndarray, Affine]) -> None:
    path, native, transform = albers_tif
    window = GRID.region_window("y1_x0")
    out = read_on_grid(str(path), GRID, window, name="inputs.crps")
    np.testing.assert_array_equal(out, expected_albers(GRID, window, native, transform))
    full = read_on_grid(str(path), GRID, GRID.full_window, name="inputs.crps")
    assert np.isnan(full).any() and np.isfinite(full).mean() > 0.9
    assert not (full == np.float32(F32_NODATA)).any()
    # Independent geometric check: the chosen native centre is within half a 30 m diagonal.
    gx, gy = np.meshgrid(GRID.x_coords(), GRID.y_coords())
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:5070", always_xy=True).transform(gx, gy)
    ok = np.isfinite(full)
    row, col = full[ok] // 1000, full[ok] % 1000
    cx, cy = transform @ (col + 0.5, row + 0.5)
    assert np.hypot(cx - x[ok], cy - y[ok]).max() <= 15 * np.sqrt(2) + 1e-6


def test_region_windows_equal_the_whole_grid(
    albers_tif: tuple[Path, np.ndarray, Affine], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(albers_tif[0])
    full = read_on_grid(path, GRID, GRID.full_window, name="inputs.crps")
    monkeypatch.setattr(rasters, "BLOCK_PIXELS", 70)  # many small row blocks
    for rid in GRID.all_region_ids:
        for window in (GRID.region_window(rid), GRID.buffered_window(rid, 7)):
            part = read_on_grid(path, GRID, window, name="inputs.crps")
            np.testing.assert_array_equal(part, full[window.rows, window.cols])


def test_multiband_returns_band_row_col(tmp_path: Path) -> None:
    path = write_tif(tmp_path / "wind.tif", coded((40, 50), bands=8), "EPSG:4326", GEO_TRANSFORM, None)
    out = read_on_grid(str(path), GRID, GRID.region_window("y0_x1"), name="inputs.wind.distribution")
    assert out.shape == (8, 20, 30)
    r, c = np.meshgrid(np.arange(20), np.arange(30, 60), indexing="ij")
    for band in range(8):
        np.testing.assert_array_equal(out[band], band * 1_000_000 + (24 - r // 2) * 1000 + (5 + c // 2))


def test_native_fn_runs_at_native_resolution_before_resampling(geo_tif: Path) -> None:
    seen: list[tuple[int, ...]] = []

    def east_neighbour(native: np.ndarray) -> np.ndarray:
        seen.append(native.shape)
        return np.roll(native, -1, axis=-1)  # each native pixel takes its eastern neighbour's value

    window = GRID.region_window("y1_x1")
    out = read_on_grid(str(geo_tif), GRID, window, name="x", native_fn=east_neighbour)
    assert len(seen) == 1 and seen[0][0] < 20 and seen[0][1] < 30  # coarser than the 20 x 30 window
    r, c = np.meshgrid(np.arange(20, 40), np.arange(30, 60), indexing="ij")
    np.testing.assert_array_equal(out, (24 - r // 2) * 1000 + (5 + c // 2) + 1)  # one *native* column east


def test_integer_raster_nodata(tmp_path: Path) -> None:
    data = coded((40, 50))[0].astype(np.int32)
    data[24, 5] = -1
    path = write_tif(tmp_path / "int.tif", data, "EPSG:4326", GEO_TRANSFORM, -1)
    out = read_on_grid(str(path), GRID, GRID.full_window, name="x")
    assert out.dtype == np.float32 and np.isnan(out[:2, :2]).all() and out[2, 2] == 23006


def test_missing_file_names_the_key_and_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "CRPS.tif"
    with pytest.raises(InputError) as info:
        read_on_grid(str(missing), GRID, GRID.full_window, name="inputs.crps")
    message = str(info.value)
    assert message.startswith("inputs.crps:") and str(missing) in message and "Fix:" in message


def test_unreadable_no_crs_and_no_overlap_are_input_errors(tmp_path: Path, geo_tif: Path) -> None:
    junk = tmp_path / "junk.tif"
    junk.write_text("not a tiff")
    with pytest.raises(InputError, match=r"inputs.rps: cannot be opened as a raster"):
        read_on_grid(str(junk), GRID, GRID.full_window, name="inputs.rps")
    no_crs = write_tif(tmp_path / "nocrs.tif", coded((40, 50))[0], None, GEO_TRANSFORM, None)
    with pytest.raises(InputError, match=r"inputs.crps: the raster has no CRS"):
        read_on_grid(str(no_crs), GRID, GRID.full_window, name="inputs.crps")
    far = RegionGrid("EPSG:4326", Affine(0.001, 0, 10.0, 0, 0.001, 10.0), (10, 10), (10, 10))
    with pytest.raises(
        InputError, match=r"burn_probability.2011: in its CRS \(EPSG:4326\) the raster does not overlap"
    ):
        read_on_grid(str(geo_tif), far, far.full_window, name="inputs.burn_probability.2011")


def test_s3_reads_like_local(geo_tif: Path, s3_client: Any) -> None:
    s3_client.create_bucket(Bucket="inputs")
    s3_client.upload_file(str(geo_tif), "inputs", "geo.tif")
    remote = read_on_grid("s3://inputs/geo.tif", GRID, GRID.region_window("y1_x1"), name="inputs.crps")
    local = read_on_grid(str(geo_tif), GRID, GRID.region_window("y1_x1"), name="inputs.crps")
    np.testing.assert_array_equal(remote, local)
    with pytest.raises(InputError, match="inputs.crps: cannot be opened"):
        read_on_grid("s3://inputs/missing.tif", GRID, GRID.full_window, name="inputs.crps")


# ---- exact nearest at interpolation speed ----------------------------------------------------
# The published CONUS grid (config/conus.yaml): EPSG:4326, rows ascending north, 0.000308 deg.
CONUS = RegionGrid("EPSG:4326", Affine(0.000308, 0, -125.0, 0, 0.000308, 21.15), (97579, 208881), (6000, 4500))
# A north-up grid at 70-71 N read from polar stereographic (EPSG:3413) rasters.
ARCTIC = RegionGrid("EPSG:4326", Affine(0.0008, 0, -150.0, 0, -0.0003, 71.0), (3334, 1250), (600, 500))


def corner_windows(grid: RegionGrid, size: int) -> list[Window]:
    """Windows at the grid's four corners, off the interpolation lattice (starts not multiples of 16)."""
    rows, cols = grid.shape
    return [Window(r, r + size, c, c + size) for r in (3, rows - size - 5) for c in (9, cols - size - 2)]


@pytest.mark.parametrize("res", [30.0, 270.0])
def test_fast_nearest_equals_exact_at_the_published_grid_corners(res: float) -> None:
    for window in corner_windows(CONUS, 400):
        native, transform, offset = native_under(CONUS, window, "EPSG:5070", res)
        exact = rasters.sample_nearest_exact(native, transform, offset, CONUS, window, "EPSG:5070")
        fast = rasters._sample_nearest(native, transform, offset, CONUS, window, "EPSG:5070")
        assert np.isfinite(exact).all()
        np.testing.assert_array_equal(fast, exact)


def test_fast_nearest_equals_exact_at_high_latitude_and_north_up() -> None:
    for window in corner_windows(ARCTIC, 300):
        native, transform, offset = native_under(ARCTIC, window, "EPSG:3413", 30.0)
        exact = rasters.sample_nearest_exact(native, transform, offset, ARCTIC, window, "EPSG:3413")
        np.testing.assert_array_equal(
            rasters._sample_nearest(native, transform, offset, ARCTIC, window, "EPSG:3413"), exact
        )


def test_the_exact_fallback_is_what_makes_them_equal(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no error bound, interpolation alone picks a different native pixel somewhere: the
    corner tests above would catch a bound that is too small."""
    monkeypatch.setattr(rasters, "CURVATURE_SAFETY", 0.0)
    monkeypatch.setattr(rasters, "ROUNDING_PX", 0.0)
    window = corner_windows(CONUS, 400)[0]
    native, transform, offset = native_under(CONUS, window, "EPSG:5070", 30.0)
    exact = rasters.sample_nearest_exact(native, transform, offset, CONUS, window, "EPSG:5070")
    fast = rasters._sample_nearest(native, transform, offset, CONUS, window, "EPSG:5070")
    assert (fast != exact).any()


@pytest.mark.parametrize(("grid", "crs"), [(CONUS, "EPSG:5070"), (ARCTIC, "EPSG:3413")])
def test_interpolation_error_stays_within_the_bound_before_the_safety_factor(grid: RegionGrid, crs: str) -> None:
    """The error reaches (h²/8)(|f_rr| + |f_cc|) at cell centres, so the bound without its safety
    factor is nearly tight; with it, every pixel stays below 60 % of the bound used, at the
    corners where curvature is largest."""
    to_native = Transformer.from_crs(grid.crs, crs, always_xy=True)
    step = rasters.LATTICE_STEP
    for window in corner_windows(grid, 160):
        lattice = rasters._lattice(grid, window, crs, step)
        gx, gy = np.meshgrid(grid.x_coords(window.cols), grid.y_coords(window.rows))
        exact = to_native.transform(gx, gy)
        r = (np.arange(window.row_start, window.row_stop) - lattice.row0) / step
        c = (np.arange(window.col_start, window.col_stop) - lattice.col0) / step
        k, m = np.floor(r).astype(int)[:, None], np.floor(c).astype(int)[None, :]
        t, u = (r - np.floor(r))[:, None], (c - np.floor(c))[None, :]
        for values, want in ((lattice.x, exact[0]), (lattice.y, exact[1])):
            got = (1 - t) * ((1 - u) * values[k, m] + u * values[k, m + 1]) + t * (
                (1 - u) * values[k + 1, m] + u * values[k + 1, m + 1]
            )
            assert np.abs(got - want).max() <= 0.6 * rasters.interpolation_bound(values)


def test_same_crs_with_pixel_centres_on_native_edges() -> None:
    """Every grid pixel centre lies exactly on a native pixel edge: only the exact fallback
    decides them, and it decides as the exact path does."""
    grid = RegionGrid("EPSG:5070", Affine(30.0, 0, 0.0, 0, -30.0, 3000.0), (100, 100), (50, 50))
    native = np.arange(101 * 101, dtype=np.float32).reshape(1, 101, 101)
    transform = Affine(30.0, 0, -15.0, 0, -30.0, 3015.0)
    window = Window(3, 97, 5, 99)
    exact = rasters.sample_nearest_exact(native, transform, (0, 0), grid, window, "EPSG:5070")
    np.testing.assert_array_equal(rasters._sample_nearest(native, transform, (0, 0), grid, window, "EPSG:5070"), exact)
