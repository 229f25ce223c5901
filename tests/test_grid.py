"""RegionGrid: ids, windows, bounds and point ownership on the demo and the CONUS grid."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from conftest import CONUS_CONFIG, DEMO_CONFIG, REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from windrisk.grid import RegionGrid, RegionIdError, Window, region_id
from windrisk.settings import data_region_ids, load_settings


@pytest.fixture(scope="module")
def demo_grid() -> RegionGrid:
    return load_settings(DEMO_CONFIG).region_grid()


@pytest.fixture(scope="module")
def conus_grid() -> RegionGrid:
    return load_settings(CONUS_CONFIG).region_grid()


@pytest.fixture(params=["demo", "conus"])
def grid(request: pytest.FixtureRequest, demo_grid: RegionGrid, conus_grid: RegionGrid) -> RegionGrid:
    return demo_grid if request.param == "demo" else conus_grid


def test_chunk_layout(demo_grid: RegionGrid, conus_grid: RegionGrid) -> None:
    assert demo_grid.n_chunks == (3, 4) and len(demo_grid.all_region_ids) == 12
    assert conus_grid.n_chunks == (17, 47) and len(conus_grid.all_region_ids) == 799
    assert demo_grid.rows_ascend_north and conus_grid.rows_ascend_north
    assert len(data_region_ids(load_settings(CONUS_CONFIG), conus_grid, base_dir=REPO)) == 405


def test_id_index_window_bounds_round_trip(grid: RegionGrid) -> None:
    a, c, e, f = grid.transform.a, grid.transform.c, grid.transform.e, grid.transform.f
    for rid in grid.all_region_ids:
        row, col = grid.chunk_index(rid)
        assert region_id(row, col) == rid
        w = grid.region_window(rid)
        assert (w.row_start, w.col_start) == (row * grid.chunks[0], col * grid.chunks[1])
        left, bottom, right, top = grid.region_bounds(rid)
        # e > 0: the window's first row is its southern (bottom) edge.
        assert left == pytest.approx(c + w.col_start * a, abs=1e-9)
        assert right == pytest.approx(c + w.col_stop * a, abs=1e-9)
        assert bottom == pytest.approx(f + w.row_start * e, abs=1e-9)
        assert top == pytest.approx(f + w.row_stop * e, abs=1e-9)
        # The centre of the region is owned by the region.
        assert grid.region_of_points(np.array([(left + right) / 2]), np.array([(bottom + top) / 2]))[0] == rid


def test_partial_last_chunks(conus_grid: RegionGrid, demo_grid: RegionGrid) -> None:
    assert conus_grid.region_window("y16_x46").shape == (97_579 - 16 * 6000, 208_881 - 46 * 4500)
    assert conus_grid.region_window("y16_x0").shape == (1579, 4500)
    assert conus_grid.region_window("y0_x46").shape == (6000, 1881)
    assert demo_grid.region_window("y2_x3").shape == (600, 450)  # the demo divides evenly


def test_bounds_are_pixel_edges(demo_grid: RegionGrid) -> None:
    left, bottom, right, top = demo_grid.window_bounds(demo_grid.full_window)
    assert (left, bottom) == (demo_grid.transform.c, demo_grid.transform.f)
    assert right - left == pytest.approx(1800 * demo_grid.transform.a)
    assert top - bottom == pytest.approx(1800 * demo_grid.transform.e)
    assert demo_grid.x_coords(slice(0, 1))[0] == pytest.approx(left + demo_grid.transform.a / 2)
    assert demo_grid.y_coords(slice(0, 1))[0] == pytest.approx(bottom + demo_grid.transform.e / 2)


def _chunk_edges(grid: RegionGrid, axis: int) -> list[int]:
    n = grid.n_chunks[axis]
    return [min(k * grid.chunks[axis], grid.shape[axis]) for k in range(n + 1)]


def test_points_on_edges_and_corners_have_one_owner(grid: RegionGrid) -> None:
    """A point on a region edge belongs to the region on its east/north side (half-open)."""
    rows, cols = _chunk_edges(grid, 0), _chunk_edges(grid, 1)
    for r, row in enumerate(rows):
        for c, col in enumerate(cols):
            x, y = grid.transform @ (col, row)
            owner = grid.region_of_points(np.array([x]), np.array([y]))
            assert owner.shape == (1,)
            inside = r < len(rows) - 1 and c < len(cols) - 1
            assert owner[0] == (region_id(r, c) if inside else "")
            # A hair to the south-west belongs to the neighbour (or nothing, past the grid).
            tiny = 1e-9
            sw = grid.region_of_points(np.array([x - tiny]), np.array([y - tiny]))[0]
            sw_inside = r > 0 and c > 0
            assert sw == (region_id(r - 1, c - 1) if sw_inside else "")


def test_points_on_edges_match_bounds(demo_grid: RegionGrid) -> None:
    rng = np.random.default_rng(0)
    left, bottom, right, top = demo_grid.window_bounds(demo_grid.full_window)
    xs = np.concatenate([rng.uniform(left, right, 500), np.full(3, left), np.full(3, right)])
    ys = np.concatenate([rng.uniform(bottom, top, 500), [bottom, top, (bottom + top) / 2] * 2])
    owners = demo_grid.region_of_points(xs, ys)
    for x, y, owner in zip(xs, ys, owners, strict=True):
        hits = [rid for rid in demo_grid.all_region_ids if _contains(demo_grid.region_bounds(rid), x, y)]
        assert hits == ([owner] if owner else [])


def _contains(bounds: tuple[float, float, float, float], x: float, y: float) -> bool:
    left, bottom, right, top = bounds
    return left <= x < right and bottom <= y < top


def test_buffered_window_is_clipped(demo_grid: RegionGrid, conus_grid: RegionGrid) -> None:
    assert demo_grid.buffered_window("y0_x0", 160) == Window(0, 760, 0, 610)
    assert demo_grid.buffered_window("y1_x1", 160) == Window(440, 1360, 290, 1060)
    assert demo_grid.buffered_window("y2_x3", 160) == Window(1040, 1800, 1190, 1800)
    assert demo_grid.buffered_window("y1_x2", 10_000) == demo_grid.full_window
    assert conus_grid.buffered_window("y16_x46", 490) == Window(95_510, 97_579, 206_510, 208_881)
    inner = demo_grid.region_window("y1_x1")
    outer = demo_grid.buffered_window("y1_x1", 160)
    assert inner.relative_to(outer) == (slice(160, 760), slice(160, 610))


def test_pixel_size_m(demo_grid: RegionGrid, conus_grid: RegionGrid) -> None:
    dy, dx = demo_grid.pixel_size_m("y1_x1")
    assert 34.0 < dy < 34.5  # 0.000308 deg of latitude
    assert dx == pytest.approx(dy * np.cos(np.radians(38.48)), rel=0.01)
    south_dy, south_dx = conus_grid.pixel_size_m("y0_x20")
    north_dy, north_dx = conus_grid.pixel_size_m("y16_x20")
    assert south_dx > north_dx  # x pixels shrink with latitude
    assert 34.0 < south_dy < north_dy < 34.5  # meridional radius grows slightly poleward
    assert conus_grid.buffer_px(0.15 * 111_000) >= 490


@pytest.mark.parametrize("bad", ["y9_x9", "y3_x0", "y0_x4", "x0_y0", "y01_x0", "y0-x0", "", "Y0_X0", "y0_x0 "])
def test_bad_region_ids_raise_one_error_listing_valid_ids(demo_grid: RegionGrid, bad: str) -> None:
    with pytest.raises(RegionIdError) as info:
        demo_grid.region_window(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "y0_x0" in message and "y2_x3" in message


def test_ids_outside_the_data_regions_raise(conus_grid: RegionGrid) -> None:
    allowed = data_region_ids(load_settings(CONUS_CONFIG), conus_grid, base_dir=REPO)
    assert "y0_x0" not in allowed
    with pytest.raises(RegionIdError, match="y0_x0"):
        conus_grid.validate_region_ids(["y0_x0"], allowed=allowed)
    picked = conus_grid.validate_region_ids([allowed[5], allowed[0], allowed[5]], allowed=allowed)
    assert picked == [allowed[0], allowed[5]]  # grid order, unique
    with pytest.raises(RegionIdError, match="17 x 47"):
        conus_grid.chunk_index("y17_x0")


def test_rotated_grid_rejected() -> None:
    with pytest.raises(ValueError, match="rotated"):
        RegionGrid("EPSG:4326", Affine(1, 0.5, 0, 0, 1, 0), (10, 10), (5, 5))


grids = st.builds(
    lambda rows, cols, crow, ccol, north_up: RegionGrid(
        "EPSG:4326",
        Affine(0.25, 0, -120.0, 0, -0.5 if north_up else 0.5, 40.0 if north_up else 30.0),
        (rows, cols),
        (crow, ccol),
    ),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(1, 15),
    st.integers(1, 15),
    st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(grids)
def test_regions_tile_the_grid_exactly(grid: RegionGrid) -> None:
    cover = np.zeros(grid.shape, dtype=np.int32)
    for rid in grid.all_region_ids:
        w = grid.region_window(rid)
        assert w.shape[0] > 0 and w.shape[1] > 0
        cover[w.rows, w.cols] += 1
    assert (cover == 1).all()


@settings(max_examples=60, deadline=None)
@given(grids, st.data())
def test_every_pixel_centre_and_edge_has_exactly_one_owner(grid: RegionGrid, data: st.DataObject) -> None:
    row = data.draw(st.integers(0, grid.shape[0] - 1))
    col = data.draw(st.integers(0, grid.shape[1] - 1))
    centre_x, centre_y = grid.transform @ (col + 0.5, row + 0.5)
    edge_x, edge_y = grid.transform @ (col, row)
    owners = grid.region_of_points(np.array([centre_x, edge_x]), np.array([centre_y, edge_y]))
    expected = region_id(row // grid.chunks[0], col // grid.chunks[1])
    # The pixel's own (col, row) corner belongs to that pixel, whatever the row order.
    assert list(owners) == [expected, expected]
    rows, cols = grid.pixel_index(np.array([centre_x]), np.array([centre_y]))
    assert (int(rows[0]), int(cols[0])) == (row, col)
