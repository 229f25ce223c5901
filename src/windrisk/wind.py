"""Wind-informed burn probability: the per-region science of ``docs/method.md``.

Pipeline for one climate run on a buffered window: BP (gap-filled at 270 m, nearest onto the
grid) → per wind direction, 3 iterations of a normalised correlation with a binary elliptical
kernel → composite weighted by the pixel's fire-weather wind-direction distribution → keep
the original BP where it is positive → Gaussian blur → crop to the region.

Choices (the published code leaves them open or gets them wrong):

* **Orientation.** Kernels are laid out in ground metres and mapped to array rows with the
  grid's row order (``rows_ascend_north``). A kernel is applied as a *correlation* (as
  ``cv2.filter2D``): a pixel averages the BP *upwind* of it, so a burning pixel spreads downwind.
* **Border: zero padding** (``cv2.BORDER_CONSTANT``, ``scipy.ndimage`` ``mode='constant'``).
  Outside the window counts as "no burnable pixel"; with a buffer of at least
  ``required_halo_px`` the cropped region does not depend on the window (no seams), and at the
  grid's own edge a region alone and the whole grid see the same zeros.
* **NaN.** Spreading: NaN and non-positive BP count as "not burning" (NaN → 0, ``valid = bp > 0``),
  the original NaNs are put back. Composite: NaN where BP is NaN or the distribution has a NaN
  or sums to 0 (no fire-weather hours). Keep: ``where(bp == 0, composite, bp)``, so NaN BP stays
  NaN and positive BP stays itself even without fire-weather hours. Blur: *normalised* — NaN
  pixels and pixels outside the window are left out and the Gaussian weights renormalised over
  the rest; NaN pixels stay NaN. On NaN-free interiors this is exactly ``cv2.GaussianBlur``;
  unlike the published code it neither grows NaN holes by the blur radius nor pulls coastal
  values towards 0.
* **Fast path.** Kernels are binary, so each kernel row (or column) is one contiguous span and
  a correlation is a sum of prefix-sum differences, accumulated in float64 (numba, parallel
  over row bands, bounded memory). The count of valid pixels is exact; the sum of BP differs
  from a direct sum by ~1e-16 relative. Each iteration's result is float32, as in the published
  code. Only one direction is alive at a time; the composite is accumulated as it goes.
* **Published compatibility.** ``method.compat: ocr-v1.1.0`` swaps in the published kernel
  layout, pixel size, borders and blur (``windrisk.ocr_compat``), to compare with the published
  dataset; each can also be switched on alone (``ocr_compat.Deviations``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numba import njit, prange

from windrisk import ocr_compat
from windrisk.fireweather import DIRECTIONS
from windrisk.grid import RegionGrid, Window
from windrisk.rasters import Resampled
from windrisk.settings import Settings
from windrisk.timing import step
from windrisk.variables import CLIMATE_RUNS, VARIABLES

KERNEL_SIZE: Final = 81
SEMI_MAJOR_M: Final = 400.0
SEMI_MINOR_M: Final = 200.0
UPWIND_SHIFT_M: Final = 110.0
SPREAD_ITERATIONS: Final = 3
TINY: Final = 1e-11  # correlations below this are set to 0 (as the published code)
BLUR_HALF_WIDTH_M: Final = 300.0
BAND_ROWS: Final = 64  # output rows per parallel work item: bounds the prefix-sum buffers
PARALLEL_MIN_PIXELS: Final = 250_000  # smaller arrays run on one thread (no thread start-up)
# read_on_grid reads this many native pixels around the window, so the 3 x 3 gap fill of every
# native pixel that the window samples sees its full neighbourhood: resampling needs no halo.
NATIVE_MARGIN_PX: Final = 2

_DIAG = math.sqrt(0.5)
# Unit (east, north) vector pointing to where the wind comes from.
_FROM: Final = {
    "N": (0.0, 1.0),
    "NE": (_DIAG, _DIAG),
    "E": (1.0, 0.0),
    "SE": (_DIAG, -_DIAG),
    "S": (0.0, -1.0),
    "SW": (-_DIAG, -_DIAG),
    "W": (-1.0, 0.0),
    "NW": (-_DIAG, _DIAG),
}


# ---- kernels ------------------------------------------------------------------------------------
def _ellipse_mask(direction: str, east_m: np.ndarray, north_m: np.ndarray) -> np.ndarray:
    """Boolean ellipse for one from-direction on ground offsets (metres) of the kernel pixels."""
    ve, vn = _FROM[direction]
    x = east_m - UPWIND_SHIFT_M * ve
    y = north_m - UPWIND_SHIFT_M * vn
    a2, b2 = SEMI_MAJOR_M**2, SEMI_MINOR_M**2
    if direction in ("E", "W"):
        return x**2 / a2 + y**2 / b2 <= 1.0
    if direction in ("N", "S"):
        return x**2 / b2 + y**2 / a2 <= 1.0
    # Diagonals: the ellipse rotated 45 degrees, major axis along the wind.
    along_ne = direction in ("NE", "SW")
    a_ne, a_nw = (a2, b2) if along_ne else (b2, a2)
    return (x + y) ** 2 / (2 * a_ne) + (y - x) ** 2 / (2 * a_nw) <= 1.0


def direction_kernels(
    pixel_size_m: tuple[float, float], rows_ascend_north: bool, published_layout: bool = False
) -> dict[str, np.ndarray]:
    """(dy_m, dx_m) pixel size → 8 binary elliptical 81 x 81 float64 kernels summing to 1, keyed N..NW.

    Kernel element ``[KERNEL_SIZE // 2 + dr, KERNEL_SIZE // 2 + dc]`` weighs the source pixel
    ``dr`` rows and ``dc`` columns away (a correlation); row offsets point north when
    ``rows_ascend_north``. With ``published_layout`` the element sits where the published code
    puts it (``ocr_compat.kernel_offsets_px``) instead of on whole pixels.
    """
    dy_m, dx_m = (float(v) for v in pixel_size_m)
    if not (dy_m > 0 and dx_m > 0):
        raise ValueError(f"pixel_size_m must be positive (dy_m, dx_m), got {pixel_size_m}")
    half = KERNEL_SIZE // 2
    reach_m = SEMI_MAJOR_M + UPWIND_SHIFT_M
    if reach_m / min(dy_m, dx_m) > half:
        raise ValueError(
            f"pixel size {pixel_size_m} m is too small: the {reach_m:.0f} m ellipse does not fit an "
            f"{KERNEL_SIZE} x {KERNEL_SIZE} kernel; use a grid with pixels >= {reach_m / half:.1f} m"
        )
    if published_layout:
        offsets = ocr_compat.kernel_offsets_px(KERNEL_SIZE)
    else:
        offsets = np.arange(-half, half + 1, dtype=np.float64)
    dr, dc = np.meshgrid(offsets, offsets, indexing="ij")
    east_m = dc * dx_m
    north_m = dr * dy_m * (1.0 if rows_ascend_north else -1.0)
    kernels = {}
    for direction in DIRECTIONS:
        mask = _ellipse_mask(direction, east_m, north_m)
        kernels[direction] = mask / mask.sum()
    return kernels


def kernel_reach_px(kernel: np.ndarray) -> tuple[int, int]:
    """Kernel → largest |row offset| and |column offset| of its non-zero elements (pixels)."""
    rows, cols = np.nonzero(kernel)
    half = kernel.shape[0] // 2
    return int(np.abs(rows - half).max()), int(np.abs(cols - half).max())


def blur_ksize(pixel_y_m: float) -> int:
    """North-south pixel size (m) → odd Gaussian kernel size ``2 * int(300 m / dy) + 1``."""
    return 2 * int(BLUR_HALF_WIDTH_M / pixel_y_m) + 1


def gaussian_weights(ksize: int) -> np.ndarray:
    """Odd ksize → the 1-D float64 weights of ``cv2.getGaussianKernel(ksize, sigma=0)``."""
    if ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"Gaussian ksize must be odd and positive, got {ksize}")
    # OpenCV (5.x) uses fixed tables, in 1/256, for small kernels when sigma <= 0.
    small = {
        1: [256],
        3: [64, 128, 64],
        5: [16, 64, 96, 64, 16],
        7: [8, 28, 56, 72, 56, 28, 8],
        9: [4, 13, 30, 51, 60, 51, 30, 13, 4],
    }
    if ksize in small:
        return np.array(small[ksize], dtype=np.float64) / 256.0
    sigma = 0.3 * ((ksize - 1) * 0.5 - 1) + 0.8
    x = np.arange(ksize) - (ksize - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def required_halo_px(
    pixel_size_m: tuple[float, float],
    rows_ascend_north: bool = True,
    *,
    published_layout: bool = False,
    ksize: int | None = None,
) -> int:
    """(dy_m, dx_m) → buffer (px) that makes a cropped region independent of its window.

    3 spreading iterations each reach one kernel radius, then the blur (``ksize``, by default
    ``blur_ksize``) reaches its half width; nearest resampling adds nothing (see NATIVE_MARGIN_PX).
    The window's border treatment (zeros or reflection) then never reaches the region.
    """
    kernels = direction_kernels(pixel_size_m, rows_ascend_north, published_layout)
    reach = max(max(kernel_reach_px(k)) for k in kernels.values())
    return SPREAD_ITERATIONS * reach + (ksize or blur_ksize(pixel_size_m[0])) // 2


# ---- the fast correlation -------------------------------------------------------------------
@dataclass(frozen=True)
class SpanPlan:
    """A binary kernel as spans: ``sum X[i + r_hi, j + c_hi] - X[i + r_lo, j + c_lo]`` over spans.

    ``X`` is the prefix sum along ``axis`` (1: along rows, 0: down columns) of the source padded
    by ``pad`` = (rows, cols) zeros; ``weight`` is the kernel's single non-zero value.
    """

    r_hi: np.ndarray
    c_hi: np.ndarray
    r_lo: np.ndarray
    c_lo: np.ndarray
    axis: int
    pad: tuple[int, int]
    weight: float


def span_plan(kernel: np.ndarray) -> SpanPlan:
    """Binary kernel (float64, one non-zero value) → SpanPlan along its shorter decomposition."""
    nz = kernel != 0
    values = np.unique(kernel[nz])
    if values.size != 1:
        raise ValueError("span_plan needs a binary kernel (a single non-zero value)")
    half = kernel.shape[0] // 2
    pad_r, pad_c = kernel_reach_px(kernel)
    rows = [r for r in range(kernel.shape[0]) if nz[r].any()]
    cols = [c for c in range(kernel.shape[1]) if nz[:, c].any()]
    axis = 1 if len(rows) <= len(cols) else 0
    lines = rows if axis == 1 else cols
    r_hi, c_hi, r_lo, c_lo = [], [], [], []
    for line in lines:
        idx = np.flatnonzero(nz[line] if axis == 1 else nz[:, line])
        if idx[-1] - idx[0] + 1 != idx.size:
            raise ValueError("span_plan needs a convex kernel: a kernel line is not one span")
        lo, hi = idx[0] - half, idx[-1] - half
        off = line - half
        if axis == 1:  # row `off`, columns lo..hi
            r_hi.append(pad_r + off), r_lo.append(pad_r + off)
            c_hi.append(pad_c + hi + 1), c_lo.append(pad_c + lo)
        else:  # column `off`, rows lo..hi
            r_hi.append(pad_r + hi + 1), r_lo.append(pad_r + lo)
            c_hi.append(pad_c + off), c_lo.append(pad_c + off)
    as_int = lambda v: np.asarray(v, dtype=np.int64)
    return SpanPlan(as_int(r_hi), as_int(c_hi), as_int(r_lo), as_int(c_lo), axis, (pad_r, pad_c), float(values[0]))


@njit(cache=True)
def _prefix_band(src, i0, n_rows, pad_r, pad_c, axis, xa, xm):  # pragma: no cover - numba
    """Prefix sums of src (float64) and counts of src > 0 (int32) over zero-padded rows [i0 - pad_r, i0 + n_rows + pad_r)."""
    h, w = src.shape
    xa[:] = 0.0
    xm[:] = 0
    for rr in range(n_rows + 2 * pad_r):
        i = i0 - pad_r + rr
        if axis == 1:
            if i < 0 or i >= h:
                continue
            row = src[i]
            sa = 0.0
            sm = 0
            ra = xa[rr, pad_c + 1 :]
            rm = xm[rr, pad_c + 1 :]
            for c in range(w):
                v = row[c]
                sa += v
                sm += 1 if v > 0 else 0
                ra[c] = sa
                rm[c] = sm
            ra[w:] = sa
            rm[w:] = sm
        else:
            xa[rr + 1] = xa[rr]
            xm[rr + 1] = xm[rr]
            if i < 0 or i >= h:
                continue
            row = src[i]
            ra = xa[rr + 1, pad_c : pad_c + w]
            rm = xm[rr + 1, pad_c : pad_c + w]
            for c in range(w):
                v = row[c]
                ra[c] += v
                rm[c] += 1 if v > 0 else 0


@njit(cache=True)
def _block_count(xm, axis, k0, n_cols):  # pragma: no cover - numba
    """Burning pixels in padded columns [k0, k0 + n_cols) of a band, from its count prefix sums."""
    total = 0
    if axis == 1:
        for rr in range(xm.shape[0]):
            total += xm[rr, k0 + n_cols] - xm[rr, k0]
    else:
        last = xm.shape[0] - 1
        for k in range(k0, k0 + n_cols):
            total += xm[last, k] - xm[0, k]
    return total


@njit(cache=True)
def _spread_band(src, out, b, r_hi, c_hi, r_lo, c_lo, axis, pad_r, pad_c, weight, band, tiny):  # pragma: no cover
    """Rows [b * band, (b + 1) * band) of out = corr(src, k) / corr(src > 0, k), zero padded."""
    h, w = src.shape
    n_spans = r_hi.shape[0]
    block = 1024  # columns per inner pass: the accumulators stay in L1
    i0 = b * band
    n_rows = min(band, h - i0)
    shape = (n_rows + 2 * pad_r + 1 - axis, w + 2 * pad_c + axis)
    xa = np.empty(shape)
    xm = np.empty(shape, dtype=np.int32)  # exact counts of burning pixels
    _prefix_band(src, i0, n_rows, pad_r, pad_c, axis, xa, xm)
    acc_a = np.empty(block)
    acc_m = np.empty(block, dtype=np.int32)
    for j0 in range(0, w, block):  # column blocks outer: the prefix rows in use stay in L2
        nj = min(block, w - j0)
        if _block_count(xm, axis, j0, nj + 2 * pad_c) == 0:  # nothing burns within reach
            out[i0 : i0 + n_rows, j0 : j0 + nj] = 0.0
            continue
        for ii in range(n_rows):
            dst = out[i0 + ii]
            acc_a[:] = 0.0
            acc_m[:] = 0
            for s in range(n_spans):
                ah = xa[ii + r_hi[s], c_hi[s] + j0 : c_hi[s] + j0 + nj]
                al = xa[ii + r_lo[s], c_lo[s] + j0 : c_lo[s] + j0 + nj]
                mh = xm[ii + r_hi[s], c_hi[s] + j0 : c_hi[s] + j0 + nj]
                ml = xm[ii + r_lo[s], c_lo[s] + j0 : c_lo[s] + j0 + nj]
                for j in range(nj):
                    acc_a[j] += ah[j] - al[j]
                    acc_m[j] += mh[j] - ml[j]
            for j in range(nj):
                ca = acc_a[j] * weight
                cm = np.float64(acc_m[j]) * weight
                if ca < tiny:
                    ca = 0.0
                if cm < tiny:
                    cm = 0.0
                dst[j0 + j] = ca / cm if cm > 0 else 0.0


@njit(parallel=True, cache=True)
def _spread_parallel(src, out, r_hi, c_hi, r_lo, c_lo, axis, pad_r, pad_c, weight, band, tiny):  # pragma: no cover
    """Every band of one spreading iteration, bands in parallel."""
    for b in prange((src.shape[0] + band - 1) // band):
        _spread_band(src, out, b, r_hi, c_hi, r_lo, c_lo, axis, pad_r, pad_c, weight, band, tiny)


@njit(cache=True)
def _spread_serial(src, out, r_hi, c_hi, r_lo, c_lo, axis, pad_r, pad_c, weight, band, tiny):  # pragma: no cover
    """Every band of one spreading iteration on one thread."""
    for b in range((src.shape[0] + band - 1) // band):
        _spread_band(src, out, b, r_hi, c_hi, r_lo, c_lo, axis, pad_r, pad_c, weight, band, tiny)


def _spread_step(src: np.ndarray, out: np.ndarray, plan: SpanPlan) -> None:
    """One normalised-correlation iteration of src into out; threads only for large arrays."""
    step = _spread_parallel if src.size >= PARALLEL_MIN_PIXELS else _spread_serial
    step(
        src,
        out,
        plan.r_hi,
        plan.c_hi,
        plan.r_lo,
        plan.c_lo,
        plan.axis,
        plan.pad[0],
        plan.pad[1],
        plan.weight,
        BAND_ROWS,
        TINY,
    )


def burning(bp: np.ndarray) -> np.ndarray:
    """BP (NaN allowed) → float32 copy with NaN and non-positive values set to 0."""
    with np.errstate(invalid="ignore"):
        return np.where(bp > 0, bp, 0).astype(np.float32)


def _reflected_step(src: np.ndarray, out: np.ndarray, plan: SpanPlan) -> None:
    """``_spread_step`` with the window mirrored at its edges (compat mode): the padding covers the
    kernel's reach, so the zeros beyond it are never read."""
    padded = ocr_compat.reflect_pad(src, plan.pad)
    result = np.empty_like(padded)
    _spread_step(padded, result, plan)
    out[...] = result[plan.pad[0] : plan.pad[0] + src.shape[0], plan.pad[1] : plan.pad[1] + src.shape[1]]


def _spread_clean(
    clean: np.ndarray,
    kernel: np.ndarray,
    iterations: int,
    buffers: tuple[np.ndarray, np.ndarray],
    reflect: bool = False,
) -> np.ndarray:
    """Cleaned BP (float32, >= 0, no NaN; left untouched) → spread BP in one of ``buffers``;
    outside the window is zero, or the window mirrored when ``reflect``."""
    plan = span_plan(kernel)
    step = _reflected_step if reflect else _spread_step
    src, (out, spare) = clean, buffers
    for _ in range(iterations):
        step(src, out, plan)
        src, out, spare = out, (spare if src is clean else src), None
    return src


def spread(
    bp: np.ndarray, kernel: np.ndarray, iterations: int = SPREAD_ITERATIONS, *, reflect: bool = False
) -> np.ndarray:
    """BP (2-D, NaN allowed) and a binary kernel → spread BP, float32, >= 0, NaN where bp is NaN."""
    clean = burning(bp)
    if iterations == 0:
        out = clean
    else:
        out = _spread_clean(clean, kernel, iterations, (np.empty_like(clean), np.empty_like(clean)), reflect)
    out[np.isnan(bp)] = np.nan
    return out


# ---- composite, keep, blur ------------------------------------------------------------------
@njit(parallel=True, cache=True)
def _add_weighted(comp, spread_d, dist_d, inv_total, index, bp):  # pragma: no cover - numba
    """comp += spread_d * dist_d[k] * inv_total[k] in place, k = the pixel's native distribution
    pixel (float64 arithmetic); NaN where bp is NaN or the pixel has no distribution pixel."""
    h, w = comp.shape
    for i in prange(h):
        for j in range(w):
            k = index[i, j]
            if np.isnan(bp[i, j]) or k < 0:
                comp[i, j] = np.nan
            else:
                comp[i, j] += np.float64(spread_d[i, j]) * dist_d[k] * inv_total[k]


def inverse_total(distribution: np.ndarray) -> np.ndarray:
    """(8, ...) distribution → 1 / its sum over directions (float32, shape ...), NaN without fire weather."""
    total = np.array(distribution[0], dtype=np.float32)
    for band in distribution[1:]:
        total += band  # band by band: no (8, H, W) or float64 temporary
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(1.0, total, out=total, where=total > 0)
    total[~(total > 0)] = np.nan  # 0 or NaN total: no fire-weather hours
    return total


def composite(
    bp: np.ndarray, distribution: np.ndarray | Resampled, kernels: Mapping[str, np.ndarray], *, reflect: bool = False
) -> np.ndarray:
    """BP (H, W) and distribution (8, H, W, bands N..NW; or Resampled to it) → Σ_d spread_d · w_d, float32.

    ``w`` is the distribution renormalised per pixel; NaN where BP is NaN or the pixel has no
    fire-weather hours. Directions are spread and added one at a time; ``reflect``: see ``spread``.
    A Resampled distribution is weighted at its native resolution (the 4 km pixels, not 8 planes
    of 30 m ones), which gives the same floats.
    """
    if distribution.shape != (len(DIRECTIONS), *bp.shape):
        raise ValueError(
            f"wind distribution has shape {distribution.shape}; expected "
            f"{(len(DIRECTIONS), *bp.shape)} (bands {', '.join(DIRECTIONS)})"
        )
    dist = distribution if isinstance(distribution, Resampled) else Resampled.of(distribution)
    native = np.ascontiguousarray(dist.native, dtype=np.float32).reshape(len(DIRECTIONS), -1)
    inv_total = inverse_total(native)
    clean = burning(bp)
    buffers = (np.empty_like(clean), np.empty_like(clean))  # reused by every direction
    comp = np.zeros(bp.shape, dtype=np.float32)
    for d, direction in enumerate(DIRECTIONS):
        with step("spread"):
            spread_d = _spread_clean(clean, kernels[direction], SPREAD_ITERATIONS, buffers, reflect)
        with step("composite"):
            _add_weighted(comp, spread_d, native[d], inv_total, dist.index, bp)
    return comp


def keep_original(bp: np.ndarray, comp: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """BP and composite → ``where(bp == 0, comp, bp)`` (float32; NaN BP stays NaN); into comp if inplace."""
    out = comp if inplace else np.array(comp, dtype=np.float32)
    np.copyto(out, bp, where=~(bp == 0))
    return out


@njit(cache=True)
def _blur_band(src, out, b, g, band):  # pragma: no cover - numba
    """Rows of band b: separable Gaussian over non-NaN pixels, renormalised; zero outside; NaN stays NaN."""
    h, w = src.shape
    r = g.shape[0] // 2
    i0 = b * band
    n_rows = min(band, h - i0)
    hv = np.zeros((n_rows + 2 * r, w))
    hm = np.zeros((n_rows + 2 * r, w))
    row_v = np.zeros(w + 2 * r)
    row_m = np.zeros(w + 2 * r)
    for rr in range(n_rows + 2 * r):
        i = i0 - r + rr
        if i < 0 or i >= h:
            continue
        for j in range(w):
            v = src[i, j]
            ok = not np.isnan(v)
            row_v[r + j] = v if ok else 0.0
            row_m[r + j] = 1.0 if ok else 0.0
        hvr, hmr = hv[rr], hm[rr]
        for t in range(2 * r + 1):
            gt = g[t]
            rv, rm = row_v[t : t + w], row_m[t : t + w]
            for j in range(w):
                hvr[j] += gt * rv[j]
                hmr[j] += gt * rm[j]
    sv = np.empty(w)
    sm = np.empty(w)
    for ii in range(n_rows):
        sv[:] = 0.0
        sm[:] = 0.0
        for t in range(2 * r + 1):
            gt = g[t]
            hvt, hmt = hv[ii + t], hm[ii + t]
            for j in range(w):
                sv[j] += gt * hvt[j]
                sm[j] += gt * hmt[j]
        for j in range(w):
            out[i0 + ii, j] = np.nan if np.isnan(src[i0 + ii, j]) else sv[j] / sm[j]


@njit(parallel=True, cache=True)
def _blur_parallel(src, out, g, band):  # pragma: no cover - numba
    """Every band of the blur, bands in parallel."""
    for b in prange((src.shape[0] + band - 1) // band):
        _blur_band(src, out, b, g, band)


@njit(cache=True)
def _blur_serial(src, out, g, band):  # pragma: no cover - numba
    """Every band of the blur on one thread."""
    for b in range((src.shape[0] + band - 1) // band):
        _blur_band(src, out, b, g, band)


def gaussian_blur(arr: np.ndarray, ksize: int) -> np.ndarray:
    """2-D array (NaN allowed) → normalised Gaussian blur with OpenCV's weights for ksize, float32."""
    src = np.ascontiguousarray(arr, dtype=np.float32)
    out = np.empty_like(src)
    blur = _blur_parallel if src.size >= PARALLEL_MIN_PIXELS else _blur_serial
    blur(src, out, gaussian_weights(ksize), BAND_ROWS)
    return out


def wind_informed_bp(
    bp: np.ndarray,
    distribution: np.ndarray | Resampled,
    pixel_size_m: tuple[float, float],
    rows_ascend_north: bool,
    *,
    compat: ocr_compat.Deviations | None = None,
    ksize: int | None = None,
) -> np.ndarray:
    """BP (H, W; 1/year, NaN allowed), distribution (8, H, W or Resampled) and (dy_m, dx_m) → wind-informed BP (float32).

    ``compat``: the published choices to reproduce (``ocr_compat``); ``ksize``: the blur size
    (default ``blur_ksize`` of the pixel height; ``window_geometry`` gives both for a window).
    """
    compat = compat or ocr_compat.NONE
    kernels = direction_kernels(pixel_size_m, rows_ascend_north, compat.kernel_layout)
    bp = np.ascontiguousarray(bp, dtype=np.float32)
    comp = composite(bp, distribution, kernels, reflect=compat.spread_border)
    with step("blur"):
        kept = keep_original(bp, comp, inplace=True)
        ksize = ksize or blur_ksize(pixel_size_m[0])
        return ocr_compat.gaussian_blur(kept, gaussian_weights(ksize)) if compat.blur else gaussian_blur(kept, ksize)


def method_compat(settings: Settings) -> ocr_compat.Deviations | None:
    """``method.compat`` of the config → the published choices it reproduces (None: windrisk's method)."""
    return ocr_compat.deviations(settings.method.compat)


def window_geometry(
    grid: RegionGrid, rid: str, window: Window, compat: ocr_compat.Deviations | None
) -> tuple[tuple[float, float], int]:
    """The kernels' (dy_m, dx_m) and the blur size for region ``rid`` computed on ``window``."""
    if compat:
        problem = ocr_compat.grid_problem(grid)
        if problem:
            raise ValueError(problem)
    if compat and compat.pixel_size:
        return ocr_compat.window_pixel_size_m(grid, window), blur_ksize(ocr_compat.blur_pixel_height_m(grid))
    pixel_size_m = grid.pixel_size_m(rid)
    return pixel_size_m, blur_ksize(pixel_size_m[0])


# ---- gap fill at native resolution ------------------------------------------------------------
def fill_isolated_zeros(bp: np.ndarray) -> np.ndarray:
    """Native BP (2-D, NaN nodata) → copy where non-positive pixels with 4 positive neighbours
    take the NaN-skipping mean of their 3 x 3 neighbourhood (centre included), as published.

    Edge pixels lack neighbours and are never filled. NaN holes are filled like zeros (the
    published code's ``valid = BP > 0`` does the same).
    """
    bp = np.asarray(bp, dtype=np.float32)
    out = bp.copy()
    if min(bp.shape) < 3:
        return out
    with np.errstate(invalid="ignore"):
        pos = bp > 0
    inner = ~pos[1:-1, 1:-1] & pos[:-2, 1:-1] & pos[2:, 1:-1] & pos[1:-1, :-2] & pos[1:-1, 2:]
    if not inner.any():
        return out
    finite = np.isfinite(bp)
    vals = np.where(finite, bp, 0).astype(np.float64)
    total = np.zeros(inner.shape)
    count = np.zeros(inner.shape)
    h, w = bp.shape
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            total += vals[dr : h - 2 + dr, dc : w - 2 + dc]
            count += finite[dr : h - 2 + dr, dc : w - 2 + dc]
    out[1:-1, 1:-1][inner] = (total[inner] / count[inner]).astype(np.float32)
    return out


# ---- reading and the per-region computation ---------------------------------------------------
@dataclass(frozen=True)
class WindowInputs:
    """On one grid window (float32): BP per climate run gap-filled and as published (Riley),
    and the 8-band distribution (at its native resolution, with each grid pixel's native pixel)."""

    window: Window
    bp: dict[str, np.ndarray]
    bp_riley: dict[str, np.ndarray]
    distribution: Resampled


def _filled_and_published(native_bp: np.ndarray) -> np.ndarray:
    """Native BP → (2, rows, cols): gap-filled, then as read; one read and resample serve both."""
    return np.stack([fill_isolated_zeros(native_bp), native_bp])


def checked_values(key: str, location: str, values: np.ndarray) -> np.ndarray:
    """``values`` of input ``key`` as read (NaN = nodata), or InputError when any is out of range.

    The input check scans local rasters whole but remote ones by their headers only, so region
    jobs check every window they read.
    """
    from windrisk.inputs import values_problem
    from windrisk.rasters import InputError

    problem = values_problem(key, location, values)
    if problem:
        raise InputError(problem)
    return values


def load_window_inputs(
    settings: Settings, grid: RegionGrid, window: Window, wind_distribution_location: str
) -> WindowInputs:
    """Config, grid window and distribution GeoTIFF → gap-filled BP per run and distribution on it."""
    from windrisk.rasters import read_on_grid, read_resampled

    bp_inputs = settings.inputs.burn_probability
    bp, bp_riley = {}, {}
    for run in CLIMATE_RUNS:
        key, location = f"burn_probability.{run}", bp_inputs[run]
        bp[run], bp_riley[run] = read_on_grid(
            location,
            grid,
            window,
            name=f"inputs.{key}",
            margin_native_px=NATIVE_MARGIN_PX,
            native_fn=lambda native, key=key, location=location: _filled_and_published(
                checked_values(key, location, native)
            ),
        )
    # Kept at native resolution (4 km): the 8 bands on a full-size window would be ~1.2 GiB.
    dist = read_resampled(
        wind_distribution_location,
        grid,
        window,
        name="inputs.wind.distribution",
        native_fn=lambda native: checked_values("wind.distribution", wind_distribution_location, native),
    )
    if dist.shape[0] != len(DIRECTIONS):
        raise ValueError(
            f"inputs.wind.distribution: {wind_distribution_location} has {dist.shape[0]} "
            f"band(s); expected {len(DIRECTIONS)} (fractions of fire-weather hours from "
            f"{', '.join(DIRECTIONS)}). Fix: point it at the file written by the wind_distribution rule"
        )
    return WindowInputs(window, bp, bp_riley, dist)


def distribution_location(settings: Settings, given: str | None) -> str:
    """The 8-band distribution to read: ``given`` (the derived file) or ``inputs.wind.distribution``."""
    location = given or settings.inputs.wind.distribution
    if not location:
        raise ValueError(
            "inputs.wind.distribution is not set and no derived distribution file was given. "
            "Fix: set inputs.wind.distribution, or pass the output of the wind_distribution rule"
        )
    return str(location)


def load_region_inputs(
    settings: Settings, grid: RegionGrid, rid: str, wind_distribution_location: str | None = None
) -> WindowInputs:
    """Settings, grid and region id → inputs on the region's buffered window (``grid.buffer_px``)."""
    window = grid.buffered_window(rid, settings.grid.buffer_px)
    return load_window_inputs(settings, grid, window, distribution_location(settings, wind_distribution_location))


def check_buffer(settings: Settings, grid: RegionGrid, rid: str, compat: ocr_compat.Deviations | None = None) -> None:
    """Raise ValueError when ``grid.buffer_px`` is too small for the region's kernels."""
    have = settings.grid.buffer_px
    pixel_size_m, ksize = window_geometry(grid, rid, grid.buffered_window(rid, have), compat)
    need = required_halo_px(
        pixel_size_m, grid.rows_ascend_north, published_layout=bool(compat and compat.kernel_layout), ksize=ksize
    )
    if have < need:
        raise ValueError(
            f"grid.buffer_px is {have} but region {rid} needs at least {need} px "
            f"(3 spreading kernel radii + the blur half width). Fix: set grid.buffer_px "
            f">= {need} in the config"
        )


def compute_region(
    settings: Settings,
    grid: RegionGrid,
    rid: str,
    wind_distribution_location: str,
    compat: ocr_compat.Deviations | None | Literal["config"] = "config",
) -> dict[str, np.ndarray]:
    """Settings, grid, region id and 8-band distribution GeoTIFF → region-shaped float32 arrays keyed as VARIABLES.

    ``compat``: the published choices to reproduce; by default those of ``method.compat``.
    """
    from windrisk.rasters import read_on_grid

    compat = method_compat(settings) if compat == "config" else compat
    check_buffer(settings, grid, rid, compat)
    inputs = load_region_inputs(settings, grid, rid, wind_distribution_location)
    region = grid.region_window(rid)
    inner = region.relative_to(inputs.window)
    pixel_size_m, ksize = window_geometry(grid, rid, inputs.window, compat)
    # The published BP is only needed on the region: crop it before the heavy work.
    out = {f"bp_{run}_riley": inputs.bp_riley.pop(run)[inner].copy() for run in CLIMATE_RUNS}
    for run in CLIMATE_RUNS:
        # pop: each run's BP is freed as soon as it is used (memory peak of a full region)
        full = wind_informed_bp(
            inputs.bp.pop(run), inputs.distribution, pixel_size_m, grid.rows_ascend_north, compat=compat, ksize=ksize
        )
        out[f"bp_{run}"] = full[inner].copy()
        del full
    del inputs
    for key in ("crps", "rps"):
        location = getattr(settings.inputs, key)
        out[key] = checked_values(key, location, read_on_grid(location, grid, region, name=f"inputs.{key}"))
    for run in CLIMATE_RUNS:
        out[f"rps_{run}"] = (out[f"bp_{run}"] * out["crps"]).astype(np.float32)
    return {name: np.ascontiguousarray(out[name], dtype=np.float32) for name in VARIABLES}


def region_job(
    settings: Settings,
    rid: str,
    wind_distribution_location: str,
    check_report: str,
    code_version: str,
    sentinel: str,
) -> dict[str, Any]:
    """One ``wind_region`` job: compute the region, commit it with its provenance (the checked
    inputs' identities), prove it and write its sentinel; return the sentinel. A region the store
    already holds with this provenance (a retried group job, a killed job whose commit landed) is
    not computed again."""
    from windrisk import inputs, store

    grid = settings.region_grid()
    identities = inputs.checked_identities(inputs.read_check(check_report))
    identities.setdefault("wind.distribution", inputs.identity(wind_distribution_location))
    provenance = store.region_provenance(settings, identities, code_version)
    with step("store check"):
        payload = store.committed_sentinel(settings, grid, rid, provenance)
    if payload is not None:
        logging.getLogger(__name__).info(
            "region %s is in the store as %s with this provenance; not computed again", rid, payload["snapshot_id"]
        )
    else:
        payload = store.write_region(
            settings, grid, rid, compute_region(settings, grid, rid, wind_distribution_location), provenance
        )
    store.write_sentinel(sentinel, payload)
    return payload
