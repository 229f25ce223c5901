"""The fast path against a plain, obviously-correct oracle, and the small rules of each step.

The oracle is the published formulation with the border made explicit: correlations by
``scipy.ndimage.correlate(mode='constant')`` (small arrays) or ``cv2.filter2D`` in float64 with
``BORDER_CONSTANT`` (large ones), all 8 directions held at once, and a NaN-aware blur built from
``cv2.GaussianBlur(..., BORDER_CONSTANT)`` of the zero-filled values and of the valid mask.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage

from windrisk import wind
from windrisk.rasters import Resampled

TOL = 1e-6  # absolute, on burn probabilities of order 1e-4..1e-1
SIZE = (34.19, 27.3)  # (dy, dx) m: the demo grid near 38 N


# ---- the oracle ---------------------------------------------------------------------------------
def oracle_correlate(arr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Zero-padded correlation in float64."""
    a = np.asarray(arr, dtype=np.float64)
    if a.size <= 20_000:
        # Cropping all-zero rim rows/columns symmetrically keeps the centre and the result.
        (pr, pc), h = wind.kernel_reach_px(kernel), kernel.shape[0] // 2
        small = kernel[h - pr : h + pr + 1, h - pc : h + pc + 1]
        return ndimage.correlate(a, small, mode="constant", cval=0.0)
    return cv2.filter2D(a, cv2.CV_64F, kernel, borderType=cv2.BORDER_CONSTANT)


def oracle_spread(bp: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    arr = np.nan_to_num(bp, nan=0.0).astype(np.float32)
    arr[arr < 0] = 0
    for _ in range(wind.SPREAD_ITERATIONS):
        cm = oracle_correlate(arr > 0, kernel)
        ca = oracle_correlate(arr, kernel)
        cm[cm < 1e-11] = 0
        ca[ca < 1e-11] = 0
        arr = np.where(cm > 0, ca / np.where(cm > 0, cm, 1), 0).astype(np.float32)
    arr[np.isnan(bp)] = np.nan
    return arr


def oracle_blur(arr: np.ndarray, ksize: int) -> np.ndarray:
    valid = ~np.isnan(arr)
    blur = lambda a: cv2.GaussianBlur(a.astype(np.float64), (ksize, ksize), 0, borderType=cv2.BORDER_CONSTANT)
    num, den = blur(np.where(valid, arr, 0)), blur(valid)
    return np.where(valid, num / np.where(valid, den, 1), np.nan)


def oracle_wind_informed_bp(bp: np.ndarray, dist: np.ndarray, size: tuple[float, float], north_up: bool) -> np.ndarray:
    kernels = wind.direction_kernels(size, north_up)
    spreads = np.stack([oracle_spread(bp, kernels[d]) for d in wind.DIRECTIONS])  # all 8 at once
    total = dist.astype(np.float64).sum(axis=0)
    ok = total > 0
    weights = dist / np.where(ok, total, 1)
    comp = np.where(ok, (spreads * weights).sum(axis=0), np.nan)
    kept = np.where(bp == 0, comp, bp)
    return oracle_blur(kept, wind.blur_ksize(size[0]))


def random_inputs(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """BP with zeros, NaN blocks and single NaNs; a distribution with some no-fire-weather pixels."""
    bp = rng.uniform(1e-4, 0.08, shape) * (rng.random(shape) > 0.5)
    bp[rng.random(shape) < 0.03] = np.nan
    bp[: shape[0] // 5, : shape[1] // 4] = np.nan  # a coast-like NaN block at the corner
    dist = rng.random((8, *shape)) * (rng.random((8, *shape)) > 0.3)
    dist[:, rng.random(shape) < 0.05] = 0  # no fire-weather hours
    dist[3, rng.random(shape) < 0.01] = np.nan
    return bp.astype(np.float32), dist.astype(np.float32)


# ---- fast path == oracle --------------------------------------------------------------------------
@pytest.mark.parametrize("north_up", [True, False])
def test_fast_path_matches_oracle_on_random_data(north_up: bool) -> None:
    bp, dist = random_inputs(np.random.default_rng(7), (230, 190))
    fast = wind.wind_informed_bp(bp, dist, SIZE, north_up)
    ref = oracle_wind_informed_bp(bp, dist, SIZE, north_up)
    assert fast.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    assert np.nanmax(np.abs(fast - ref)) <= TOL
    assert np.nanmin(fast) >= 0


bp_values = st.one_of(st.just(0.0), st.just(np.nan), st.floats(2**-16, 0.25, width=32))


@given(
    hnp.arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 40)), elements=bp_values),
    st.integers(0, 2**32 - 1),
    st.tuples(st.floats(20.0, 45.0), st.floats(18.0, 45.0)),
    st.booleans(),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_matches_oracle_on_small_shapes(
    bp: np.ndarray, seed: int, size: tuple[float, float], north_up: bool
) -> None:
    rng = np.random.default_rng(seed)
    dist = (rng.random((8, *bp.shape)) * (rng.random((8, *bp.shape)) > 0.4)).astype(np.float32)
    fast = wind.wind_informed_bp(bp, dist, size, north_up)
    ref = oracle_wind_informed_bp(bp, dist, size, north_up)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    if not np.isnan(ref).all():
        assert np.nanmax(np.abs(fast - ref)) <= TOL


def test_oracle_correlations_agree() -> None:
    a = np.random.default_rng(3).random((90, 110))
    k = wind.direction_kernels(SIZE, True)["NE"]
    np.testing.assert_allclose(
        ndimage.correlate(a, k, mode="constant"),
        cv2.filter2D(a, cv2.CV_64F, k, borderType=cv2.BORDER_CONSTANT),
        atol=1e-12,
    )


# ---- the rules of each step ---------------------------------------------------------------------
def test_spreading_is_nonnegative_float32_and_keeps_nans() -> None:
    bp, _ = random_inputs(np.random.default_rng(1), (80, 90))
    bp[5, 5] = -0.5  # not a probability: treated as not burning
    out = wind.spread(bp, wind.direction_kernels(SIZE, True)["SW"])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(out), np.isnan(bp))
    assert np.nanmin(out) >= 0


def test_spreading_a_uniform_field_changes_nothing_inside() -> None:
    bp = np.full((120, 120), 0.01, dtype=np.float32)
    out = wind.spread(bp, wind.direction_kernels(SIZE, True)["N"])
    np.testing.assert_allclose(out, 0.01, rtol=1e-6)  # normalised: the border does not dilute


def test_composite_weights_directions_and_marks_no_fire_weather_nan() -> None:
    bp = np.zeros((60, 60), dtype=np.float32)
    bp[:, :30] = 0.04  # west half burns
    kernels = wind.direction_kernels((30.0, 30.0), True)
    dist = np.zeros((8, 60, 60), dtype=np.float32)
    dist[wind.DIRECTIONS.index("W")] = 3.0  # not normalised on purpose
    dist[wind.DIRECTIONS.index("E")] = 1.0
    dist[:, 0, 59] = 0  # no fire-weather hours
    dist[2, 1, 59] = np.nan
    comp = wind.composite(bp, dist, kernels)
    # 3 iterations reach 3 x 9 px downwind against the wind: at col 58 an east wind (weight 1/4)
    # sees nothing burning, a west wind (3/4) sees the burning half.
    assert comp[30, 58] == pytest.approx(0.75 * 0.04, rel=1e-6)
    assert comp[30, 50] == pytest.approx(0.04, rel=1e-6)
    assert np.isnan(comp[0, 59]) and np.isnan(comp[1, 59])
    with pytest.raises(ValueError, match="bands N, NE"):
        wind.composite(bp, dist[:7], kernels)


def test_composite_of_a_native_distribution_equals_the_one_on_the_grid() -> None:
    """The region job keeps the distribution at its native 4 km with each pixel's native index;
    the composite must be the same floats as with the 8 planes on the grid."""
    rng = np.random.default_rng(3)
    bp = np.where(rng.random((70, 90)) < 0.2, rng.random((70, 90)) * 0.05, 0).astype(np.float32)
    bp[5:9, 40:60] = np.nan
    native = rng.random((8, 4, 5)).astype(np.float32)
    native[:, 1, 2] = 0  # no fire-weather hours
    native[3, 2, 4] = np.nan
    # Coarse pixels of 20 x 20 grid px, and the last grid column outside the native window.
    rows, cols = np.meshgrid(np.arange(70) // 20, np.arange(90) // 20, indexing="ij")
    index = (rows * 5 + cols).astype(np.int32)
    index[:, -1] = -1
    resampled = Resampled(native, index)
    kernels = wind.direction_kernels(SIZE, True)
    on_grid = wind.composite(bp, resampled.values(), kernels)
    np.testing.assert_array_equal(wind.composite(bp, resampled, kernels), on_grid)
    assert np.isnan(on_grid[:, -1]).all() and np.isnan(on_grid[25, 45]) and np.isnan(on_grid[50, 85])
    assert np.isfinite(on_grid).sum() > 5000


def test_keep_original_where_positive() -> None:
    bp = np.array([0.0, 0.02, np.nan, 0.0], dtype=np.float32)
    comp = np.array([0.01, 0.05, 0.03, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(wind.keep_original(bp, comp), np.array([0.01, 0.02, np.nan, np.nan], np.float32))


def test_blur_is_opencvs_inside_and_does_not_grow_nan_holes() -> None:
    rng = np.random.default_rng(5)
    a = rng.random((70, 80)).astype(np.float32)
    ref = cv2.GaussianBlur(a, (17, 17), 0)
    out = wind.gaussian_blur(a, 17)
    assert np.abs(out[8:-8, 8:-8] - ref[8:-8, 8:-8]).max() <= 1e-6
    a[30:33, 40:45] = np.nan
    out = wind.gaussian_blur(a, 17)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(a))
    assert np.nanmax(np.abs(out - oracle_blur(a, 17))) <= 1e-6


def test_fill_isolated_zeros_by_hand() -> None:
    bp = np.array(
        [
            [1, 2, 3, 4],
            [5, 0, 7, 0],
            [9, 10, np.nan, 12],
            [13, 14, 15, 16],
        ],
        dtype=np.float32,
    )
    out = wind.fill_isolated_zeros(bp)
    assert out[1, 1] == pytest.approx((1 + 2 + 3 + 5 + 0 + 7 + 9 + 10) / 8)  # NaN corner skipped
    assert out[2, 2] == pytest.approx((0 + 7 + 0 + 10 + 12 + 14 + 15 + 16) / 8)  # NaN centre skipped
    assert out[1, 3] == 0  # on the edge: not all 4 neighbours exist
    bp2 = bp.copy()
    bp2[1, 2] = 0  # now [1, 1] has a zero neighbour: not isolated
    assert wind.fill_isolated_zeros(bp2)[1, 1] == 0


def test_required_halo_is_enough_and_not_much_more() -> None:
    """A region computed on a window with the required halo equals the big computation."""
    rng = np.random.default_rng(11)
    bp, dist = random_inputs(rng, (330, 330))
    bp[: 330 // 5, : 330 // 4] = 0.03  # no NaN block here: every pixel carries information
    halo = wind.required_halo_px(SIZE)
    big = wind.wind_informed_bp(bp, dist, SIZE, True)
    region = slice(115, 215)

    def alone(h: int) -> np.ndarray:
        win = slice(region.start - h, region.stop + h)
        out = wind.wind_informed_bp(bp[win, win], dist[:, win, win], SIZE, True)
        return out[h:-h, h:-h]

    np.testing.assert_array_equal(alone(halo), big[region, region])
    assert np.nanmax(np.abs(alone(halo - 8) - big[region, region])) > 0  # a short halo shows
