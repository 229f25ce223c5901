"""Spreading kernels: shape, size, normalisation and — above all — orientation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import CONUS_CONFIG
from hypothesis import given, settings
from hypothesis import strategies as st

from windrisk.settings import load_settings
from windrisk.wind import (
    DIRECTIONS,
    KERNEL_SIZE,
    UPWIND_SHIFT_M,
    blur_ksize,
    direction_kernels,
    gaussian_weights,
    kernel_reach_px,
    required_halo_px,
    span_plan,
    spread,
)

# Unit (east, north) vector pointing to where the wind comes from, written out independently.
FROM_VECTOR = {
    "N": (0, 1),
    "NE": (1, 1),
    "E": (1, 0),
    "SE": (1, -1),
    "S": (0, -1),
    "SW": (-1, -1),
    "W": (-1, 0),
    "NW": (-1, 1),
}
pixel_sizes = st.tuples(st.floats(14.0, 60.0), st.floats(14.0, 60.0))


@given(pixel_sizes, st.booleans())
@settings(max_examples=30, deadline=None)
def test_kernels_are_binary_normalised_and_mirror_each_other(size: tuple[float, float], north_up: bool) -> None:
    kernels = direction_kernels(size, north_up)
    assert list(kernels) == list(DIRECTIONS)
    for k in kernels.values():
        assert k.shape == (KERNEL_SIZE, KERNEL_SIZE)
        assert k.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.unique(k[k > 0]).size == 1  # binary
    # The opposite wind is the kernel turned by 180 degrees.
    for a, b in (("N", "S"), ("E", "W"), ("NE", "SW"), ("NW", "SE")):
        np.testing.assert_array_equal(kernels[a], kernels[b][::-1, ::-1])


def test_nonzero_counts_on_the_published_grid_from_24_to_50_north() -> None:
    grid = load_settings(CONUS_CONFIG).region_grid()
    checked = []
    for row in range(grid.n_chunks[0]):
        rid = f"y{row}_x0"
        _, bottom, _, top = grid.region_bounds(rid)
        if not 24 <= (bottom + top) / 2 <= 50:
            continue
        for direction, k in direction_kernels(grid.pixel_size_m(rid), grid.rows_ascend_north).items():
            n = int(np.count_nonzero(k))
            assert 200 <= n <= 500, (rid, direction, n)
        checked.append(rid)
    assert len(checked) >= 12  # 24..50 N spans most of the 17 chunk rows


def _footprint_centroid_m(direction: str, size: tuple[float, float], north_up: bool) -> tuple[float, float]:
    """(east, north) metres from a single burning pixel to the centroid of what it burns."""
    n = 2 * KERNEL_SIZE
    bp = np.zeros((n, n), dtype=np.float32)
    bp[n // 2, n // 2] = 0.01
    out = spread(bp, direction_kernels(size, north_up)[direction], iterations=1)
    rows, cols = np.nonzero(out)
    dy, dx = size
    east = (cols - n // 2).mean() * dx
    north = (rows - n // 2).mean() * dy * (1 if north_up else -1)
    return east, north


@pytest.mark.parametrize("north_up", [True, False], ids=["rows-ascend-north", "north-up"])
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_burning_pixel_spreads_downwind(direction: str, north_up: bool) -> None:
    size = (34.19, 27.5)
    east, north = _footprint_centroid_m(direction, size, north_up)
    fe, fn = FROM_VECTOR[direction]
    norm = math.hypot(fe, fn)
    # Downwind = opposite to where the wind comes from, by the 110 m centre shift.
    assert east == pytest.approx(-UPWIND_SHIFT_M * fe / norm, abs=max(size) / 2)
    assert north == pytest.approx(-UPWIND_SHIFT_M * fn / norm, abs=max(size) / 2)


def test_west_wind_averages_the_pixels_to_the_west() -> None:
    bp = np.zeros((101, 101), dtype=np.float32)
    bp[:, :50] = 0.02  # west half burns
    out = spread(bp, direction_kernels((30.0, 30.0), True)["W"], iterations=1)
    # 510 m reach = 17 px upwind, 290 m = 9 px downwind of the pixel.
    assert out[50, 50 + 12] == pytest.approx(0.02)  # east of the edge: the west burns upwind
    assert out[50, 50 + 17] == 0
    east = spread(bp, direction_kernels((30.0, 30.0), True)["E"], iterations=1)
    assert east[50, 50 + 12] == 0  # an east wind looks east, where nothing burns
    assert east[50, 50 + 8] == pytest.approx(0.02)


def test_kernel_shape_follows_pixel_size_and_latitude() -> None:
    square = direction_kernels((30.0, 30.0), True)
    # 400 m semi-major, 200 m semi-minor, centre 110 m upwind: reach 510 m along the wind.
    assert kernel_reach_px(square["W"]) == (6, 17)
    assert kernel_reach_px(square["N"]) == (17, 6)
    narrow = direction_kernels((30.0, 20.0), True)  # x pixels shrink poleward: more columns
    assert np.count_nonzero(narrow["E"]) > np.count_nonzero(square["E"])
    with pytest.raises(ValueError, match="too small"):
        direction_kernels((10.0, 10.0), True)


def test_span_plan_needs_a_binary_kernel() -> None:
    k = np.zeros((5, 5))
    k[2, 1:4] = [0.2, 0.3, 0.5]
    with pytest.raises(ValueError, match="binary"):
        span_plan(k)


@pytest.mark.parametrize("ksize", [1, 3, 5, 7, 9, 13, 17, 21, 31])
def test_gaussian_weights_are_opencvs(ksize: int) -> None:
    np.testing.assert_allclose(gaussian_weights(ksize), cv2.getGaussianKernel(ksize, 0)[:, 0], atol=1e-12)


def test_blur_size_and_halo() -> None:
    assert blur_ksize(34.19) == 17  # as the published run
    assert blur_ksize(30.0) == 21
    # reach 17 px (510 m / 30 m), 3 iterations, plus the 10 px blur half width
    assert required_halo_px((30.0, 30.0)) == 3 * 17 + 10
