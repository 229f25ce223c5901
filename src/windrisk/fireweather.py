"""Fire-weather wind-direction distribution from hourly surface fields (CONUS404 style).

Per pixel: relative humidity from T2 and TD2; earth-relative wind; the Fosberg fire-weather
index; its 99th percentile over time; the from-directions of the hours above it, binned into
8 sectors of 45 degrees. Choices:

* **RH**: Magnus formula over water with the Alduchov & Eskridge (1996) constants,
  ``e_s(T) = 6.1094 exp(17.625 T / (T + 243.04))`` hPa, T in degC; ``RH = 100 e_s(Td) / e_s(T)``,
  clipped to [0, 100] % (Td slightly above T from rounding would otherwise leave the EMC's range).
* **EMC** (Simard 1968, the 3-piece formula of the Fosberg index), T in degF, H = RH in %:
  H < 10: ``0.03229 + 0.281073 H - 0.000578 H T``;
  10 <= H < 50: ``2.22749 + 0.160107 H - 0.01478 T``;
  H >= 50: ``21.0606 + 0.005565 H^2 - 0.00035 H T - 0.483199 H``.
* **FFWI** = ``eta sqrt(1 + U^2)``, ``eta = 1 - 2(m/30) + 1.5(m/30)^2 - 0.5(m/30)^3``, with U in
  ``m/s`` (the published code; default) or ``mph`` (the classic index). The classic 1/0.3002
  scale is left out: only a per-pixel percentile is used, which a constant factor cannot change.
* **Percentile**: ``numpy.nanquantile(..., 0.99, method="linear")`` over time (type 7, as
  xarray's ``quantile``); NaN hours are skipped. Fire-weather hours: FFWI strictly above it.
* **Direction**: meteorological from-direction, 0 = from north, 90 = from east, in [0, 360).
  Bins of 45 degrees centred on N, NE, ... (N = [337.5, 22.5), NE = [22.5, 67.5), ...).
  **Calm hours** (speed exactly 0) have no direction: they count for the percentile but are
  left out of the histogram, as are NaN hours. The histogram is normalised over the hours it
  counts; a pixel with none is NaN in every band.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from windrisk.io import atomic_path

if TYPE_CHECKING:
    import xarray as xr
    from affine import Affine

log = logging.getLogger(__name__)

DIRECTIONS: Final = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
MPH_PER_MS: Final = 3600.0 / 1609.344
SPEED_FACTORS: Final = {"m/s": 1.0, "mph": MPH_PER_MS}
QUANTILE: Final = 0.99
# Bytes of working memory per pixel-hour in a block: 4 float32 inputs + ~10 float64 temporaries.
BYTES_PER_PIXEL_HOUR: Final = 96
DEFAULT_MEMORY_BYTES: Final = 1 << 30


def relative_humidity(t_k: np.ndarray, td_k: np.ndarray) -> np.ndarray:
    """Temperature and dew point (K) → relative humidity (%, Magnus over water, clipped to 0..100)."""
    t_c = np.asarray(t_k, dtype=np.float64) - 273.15
    td_c = np.asarray(td_k, dtype=np.float64) - 273.15
    log_ratio = 17.625 * td_c / (td_c + 243.04) - 17.625 * t_c / (t_c + 243.04)
    return np.clip(100.0 * np.exp(log_ratio), 0.0, 100.0)


def earth_relative(
    u: np.ndarray, v: np.ndarray, sinalpha: np.ndarray, cosalpha: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Grid-relative u, v and the grid's sin/cos alpha → earth-relative (eastward, northward) wind."""
    return u * cosalpha - v * sinalpha, v * cosalpha + u * sinalpha


def speed_and_direction(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eastward, northward wind (m/s) → speed (m/s) and from-direction (deg, [0, 360), NaN if calm)."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    speed = np.hypot(u, v)
    with np.errstate(invalid="ignore"):
        direction = np.mod(np.degrees(np.arctan2(-u, -v)), 360.0)
        direction = np.where(speed > 0, direction, np.nan)
    return speed, direction


def equilibrium_moisture(t_f: np.ndarray, rh: np.ndarray) -> np.ndarray:
    """Temperature (degF) and RH (%) → equilibrium moisture content (%), Simard's 3-piece formula."""
    t_f = np.asarray(t_f, dtype=np.float64)
    h = np.asarray(rh, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.select(
            [h < 10, h < 50, h >= 50],
            [
                0.03229 + 0.281073 * h - 0.000578 * h * t_f,
                2.22749 + 0.160107 * h - 0.01478 * t_f,
                21.0606 + 0.005565 * h**2 - 0.00035 * h * t_f - 0.483199 * h,
            ],
            default=np.nan,
        )


def check_speed_unit(speed_unit: str) -> None:
    """Raise ValueError naming ``inputs.wind.wind_speed_unit`` unless it is a known unit."""
    if speed_unit not in SPEED_FACTORS:
        raise ValueError(
            f"inputs.wind.wind_speed_unit is {speed_unit!r}; allowed: {sorted(SPEED_FACTORS)}. "
            "Fix: set inputs.wind.wind_speed_unit to one of them in the config"
        )


def fosberg(t_k: np.ndarray, rh: np.ndarray, speed_ms: np.ndarray, speed_unit: str = "m/s") -> np.ndarray:
    """Temperature (K), RH (%) and wind speed (m/s) → Fosberg index with U in ``speed_unit``."""
    check_speed_unit(speed_unit)
    t_f = (np.asarray(t_k, dtype=np.float64) - 273.15) * 9.0 / 5.0 + 32.0
    x = equilibrium_moisture(t_f, rh) / 30.0
    eta = 1.0 - 2.0 * x + 1.5 * x**2 - 0.5 * x**3
    wind = np.asarray(speed_ms, dtype=np.float64)
    if SPEED_FACTORS[speed_unit] != 1.0:  # x * 1.0 is x: skip the pass
        wind = wind * SPEED_FACTORS[speed_unit]
    return eta * np.sqrt(1.0 + wind**2)


def direction_bins(direction_deg: np.ndarray) -> np.ndarray:
    """From-direction (deg) → sector 0..7 (N, NE, ... NW; N = [337.5, 22.5)), -1 where NaN (int8)."""
    d = np.asarray(direction_deg, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        sector = np.floor(np.mod(d + 22.5, 360.0) / 45.0)
    out = np.where(np.isfinite(sector), np.clip(sector, 0, 7), -1)
    return out.astype(np.int8)


def quantile_ranks(n_valid: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid hours per pixel → ascending sorted positions ``lo``, ``hi`` and weight ``frac`` of the
    q-quantile (numpy's linear method, type 7); ``lo = hi = 0`` where a pixel has no valid hour."""
    last = np.maximum(np.asarray(n_valid) - 1, 0)
    pos = last * q
    lo = np.floor(pos).astype(np.int64)
    return lo, np.minimum(lo + 1, last), pos - lo


def lerp(v_lo: np.ndarray, v_hi: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """numpy's ``_lerp`` form (exact at frac 0 and 1): never below ``v_lo`` when ``v_lo <= v_hi``."""
    return np.where(frac >= 0.5, v_hi - (v_hi - v_lo) * (1 - frac), v_lo + (v_hi - v_lo) * frac)


def nan_quantile(values: np.ndarray, q: float) -> np.ndarray:
    """(time, ...) → the q-quantile over time skipping NaN, linear interpolation (numpy's default
    method, type 7); NaN where every hour is NaN. Vectorised (numpy's nanquantile loops per pixel)."""
    ordered = np.sort(values, axis=0)  # NaN sorts last
    n_valid = np.count_nonzero(~np.isnan(values), axis=0)
    lo, hi, frac = quantile_ranks(n_valid, q)
    v_lo = np.take_along_axis(ordered, lo[None], axis=0)[0]
    v_hi = np.take_along_axis(ordered, hi[None], axis=0)[0]
    return np.where(n_valid > 0, lerp(v_lo, v_hi, frac), np.nan)


def sector_fractions(fire: np.ndarray, sectors: np.ndarray, axis: int = 0) -> np.ndarray:
    """Fire-weather mask and sectors with hours along ``axis`` → (8, ...) float32 fraction of those
    hours per sector; NaN in every band where no fire-weather hour has a direction."""
    counts = np.stack([np.count_nonzero(fire & (sectors == k), axis=axis) for k in range(len(DIRECTIONS))])
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / total, np.nan).astype(np.float32)


def fire_weather_distribution(ffwi: np.ndarray, sectors: np.ndarray) -> np.ndarray:
    """FFWI and sectors (time, ...) → (8, ...) float32 fractions of the hours above the per-pixel p99.

    NaN in every band where no such hour has a direction.
    """
    p99 = nan_quantile(ffwi, QUANTILE)
    with np.errstate(invalid="ignore"):
        fire = ffwi > p99[None]
    return sector_fractions(fire, sectors)


def hourly_index(
    t2: np.ndarray,
    td2: np.ndarray,
    u10: np.ndarray,
    v10: np.ndarray,
    sinalpha: np.ndarray | None = None,
    cosalpha: np.ndarray | None = None,
    speed_unit: str = "m/s",
) -> tuple[np.ndarray, np.ndarray]:
    """Hourly T2, TD2 (K), U10, V10 (m/s; grid-relative when sin/cos alpha (y, x) given), dims
    (time, ...) → FFWI (float64) and from-direction sector (int8, -1 calm or NaN) per hour."""
    u, v = np.asarray(u10, dtype=np.float64), np.asarray(v10, dtype=np.float64)
    if sinalpha is not None and cosalpha is not None:
        u, v = earth_relative(u, v, np.asarray(sinalpha)[None], np.asarray(cosalpha)[None])
    speed, direction = speed_and_direction(u, v)
    return fosberg(t2, relative_humidity(t2, td2), speed, speed_unit), direction_bins(direction)


def distribution_from_fields(
    t2: np.ndarray,
    td2: np.ndarray,
    u10: np.ndarray,
    v10: np.ndarray,
    sinalpha: np.ndarray | None = None,
    cosalpha: np.ndarray | None = None,
    speed_unit: str = "m/s",
) -> np.ndarray:
    """Hourly T2, TD2 (K), U10, V10 (m/s; grid-relative when sin/cos alpha given), dims (time, ...)
    → (8, ...) float32 wind-direction distribution of the fire-weather hours."""
    return fire_weather_distribution(*hourly_index(t2, td2, u10, v10, sinalpha, cosalpha, speed_unit))


# ---- file I/O -----------------------------------------------------------------------------------
HOURLY_VARIABLES: Final = ("T2", "TD2", "U10", "V10")
# Snakemake marks a directory() output with a `.snakemake_timestamp` file inside it; in the demo's
# hourly Zarr store zarr then warns on every open that this file is no part of the hierarchy.
# Harmless, so open_hourly ignores exactly that warning for exactly that file (any other stray
# file still warns). Filtered as UserWarning, which zarr's ZarrUserWarning subclasses.
SNAKEMAKE_MARKER_WARNING: Final = (
    r"Object at \.snakemake_timestamp is not recognized as a component of a Zarr hierarchy"
)


def open_hourly(location: str, chunks: dict | None = None) -> xr.Dataset:
    """Open the hourly Zarr store and check it holds T2, TD2, U10, V10 over (time, y, x).

    ``chunks={}`` gives dask chunks equal to the stored ones. Raises ValueError naming
    ``inputs.wind.hourly`` and the fix.
    """
    import xarray as xr

    kwargs = {} if chunks is None else {"chunks": chunks}
    try:
        # zarr warns from its event-loop thread; the filter list is process-wide, so this reaches it.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=SNAKEMAKE_MARKER_WARNING, category=UserWarning)
            ds = xr.open_zarr(location, consolidated=False, **kwargs)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise ValueError(
            f"inputs.wind.hourly: cannot open {location} as a Zarr store ({exc}). "
            "Fix: point it at a Zarr store with T2, TD2, U10, V10 over (time, y, x)"
        ) from None
    missing = [v for v in HOURLY_VARIABLES if v not in ds]
    if missing:
        raise ValueError(
            f"inputs.wind.hourly: {location} lacks {missing}. Fix: provide hourly "
            "T2, TD2 (K) and U10, V10 (m/s) with dims (time, y, x)"
        )
    wrong = [v for v in HOURLY_VARIABLES if set(ds[v].dims) != {"time", "y", "x"}]
    if wrong:
        raise ValueError(
            f"inputs.wind.hourly: {location}: {wrong} do not have dims (time, y, x) "
            f"(T2 has {ds['T2'].dims}). Fix: rename the dimensions to time, y, x"
        )
    return ds


def hourly_frame(ds: xr.Dataset, location: str) -> tuple[str, Affine]:
    """The hourly store's CRS (WKT) and pixel-edge Affine in the store's row order.

    The CRS comes from T2's grid-mapping variable (``spatial_ref`` or CONUS404's ``crs``): its
    ``crs_wkt`` or ``spatial_ref`` attribute, else its CF attributes (e.g. lambert_conformal_conic).
    The Affine comes from its ``GeoTransform`` attribute, else from the regular 1-D ``x``/``y``
    pixel-centre coordinates in CRS units.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    named = ds["T2"].attrs.get("grid_mapping") or ds["T2"].encoding.get("grid_mapping")
    found = [n for n in (named, "spatial_ref", "crs") if n and n in ds.variables]
    if not found:
        raise ValueError(
            f"inputs.wind.hourly: {location} has no grid-mapping variable ('spatial_ref' or "
            "'crs', named by T2's grid_mapping attribute). Fix: write the store with a CF "
            "grid mapping (crs_wkt, or CF projection attributes)"
        )
    attrs = ds.variables[found[0]].attrs
    try:
        wkt = attrs.get("crs_wkt") or attrs.get("spatial_ref")
        crs_wkt = CRS.from_wkt(wkt).to_wkt() if wkt else CRS.from_cf(dict(attrs)).to_wkt()
    except (CRSError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"inputs.wind.hourly: {location}: cannot read the CRS of '{found[0]}' ({exc}). "
            "Fix: give it a crs_wkt attribute or complete CF grid-mapping attributes"
        ) from None
    if "GeoTransform" in attrs:
        try:
            return crs_wkt, _affine(parse_geotransform(attrs["GeoTransform"]))
        except ValueError as exc:
            raise ValueError(
                f"inputs.wind.hourly: {location}: cannot read {found[0]}'s GeoTransform ({exc}). "
                "Fix: set it to the 6 numbers of the GDAL GeoTransform of the pixel edges"
            ) from None
    return crs_wkt, transform_from_centres(ds, location)


def _affine(geotransform: Sequence[float]) -> Affine:
    from affine import Affine

    return Affine.from_gdal(*geotransform)


def transform_from_centres(ds: xr.Dataset, location: str) -> Affine:
    """Pixel-edge Affine from regularly spaced 1-D ``x``/``y`` pixel-centre coordinates."""
    from affine import Affine

    steps = {}
    for dim in ("x", "y"):
        centres = np.asarray(ds[dim].values, dtype=np.float64) if dim in ds.coords else np.empty(0)
        step = np.diff(centres)
        if centres.size < 2 or not np.allclose(step, step[0], rtol=1e-6, atol=0):
            raise ValueError(
                f"inputs.wind.hourly: {location}: no GeoTransform and no regular 1-D '{dim}' "
                "coordinate to place the grid. Fix: add the pixel-centre x/y coordinates "
                "(CRS units) or a GeoTransform attribute on the grid-mapping variable"
            )
        steps[dim] = (float(centres[0]), float(step.mean()))
    (x0, dx), (y0, dy) = steps["x"], steps["y"]
    return Affine(dx, 0.0, x0 - dx / 2, 0.0, dy, y0 - dy / 2)


def parse_geotransform(value: str | Sequence[float]) -> list[float]:
    """GDAL GeoTransform (string of 6 numbers, or a sequence) → 6 floats.

    Tolerates numpy reprs such as ``np.float64(-123.2)`` inside the string.
    """
    parts = (
        re.sub(r"np\.float\d+\(([^)]*)\)", r"\1", value).replace(",", " ").split() if isinstance(value, str) else value
    )
    numbers = [float(v) for v in parts]
    if len(numbers) != 6:
        raise ValueError(f"GeoTransform {value!r} does not hold 6 numbers (GDAL order)")
    return numbers


def static_field(da: xr.DataArray) -> xr.DataArray:
    """A (y, x) field, or its first time step when it also has a time dimension (SINALPHA, COSALPHA)."""
    if "time" in da.dims:
        da = da.isel(time=0)
    return da.transpose("y", "x")


def north_up(dist: np.ndarray, transform: Affine) -> tuple[np.ndarray, Affine]:
    """(bands, rows, cols) in the store's row order → north-up rows and their Affine."""
    from affine import Affine

    if transform.e > 0:  # rows ascend northward
        return dist[:, ::-1], transform @ Affine.translation(0, dist.shape[1]) @ Affine.scale(1, -1)
    return dist, transform


def _block_side(n_time: int, chunks: tuple[int, int], memory_bytes: int) -> int:
    """Square block side (px) that keeps a block's working memory under ``memory_bytes``."""
    side = max(1, math.isqrt(max(1, memory_bytes // max(1, n_time * BYTES_PER_PIXEL_HOUR))))
    chunk = min(chunks)
    return side // chunk * chunk if side >= chunk else side


def derive_distribution(
    hourly_location: str, out_path: str | Path, speed_unit: str = "m/s", memory_bytes: int = DEFAULT_MEMORY_BYTES
) -> None:
    """Hourly Zarr store (T2, TD2, U10, V10 over (time, y, x)) → 8-band float32 GeoTIFF at ``out_path``.

    The in-process reference: spatial blocks holding all hours, sized so memory stays near
    ``memory_bytes``; each block re-reads the stored chunks it touches, so on a long archive with
    short time chunks use ``windrisk.fireweather_dask.wind_distribution`` (one pass) instead.
    Bands N..NW (described), NaN nodata, in the store's CRS, north-up; written atomically.
    """
    check_speed_unit(speed_unit)
    ds = open_hourly(hourly_location)
    crs_wkt, transform = hourly_frame(ds, hourly_location)
    n_time, ny, nx = (ds["T2"].sizes[d] for d in ("time", "y", "x"))
    enc_chunks = ds["T2"].encoding.get("chunks") or (n_time, ny, nx)
    dims = ds["T2"].dims
    side = _block_side(n_time, (int(enc_chunks[dims.index("y")]), int(enc_chunks[dims.index("x")])), memory_bytes)
    rotate = "SINALPHA" in ds and "COSALPHA" in ds
    out = np.full((len(DIRECTIONS), ny, nx), np.nan, dtype=np.float32)
    for y0 in range(0, ny, side):
        for x0 in range(0, nx, side):
            sel = {"y": slice(y0, y0 + side), "x": slice(x0, x0 + side)}
            fields = [ds[v].isel(sel).transpose("time", "y", "x").values for v in HOURLY_VARIABLES]
            alpha = [static_field(ds[v].isel(sel)).values for v in ("SINALPHA", "COSALPHA")] if rotate else [None, None]
            out[:, sel["y"], sel["x"]] = distribution_from_fields(*fields, *alpha, speed_unit=speed_unit)
        log.info("wind distribution: rows %d..%d of %d done", y0, min(y0 + side, ny), ny)
    dist, transform = north_up(out, transform)
    write_distribution(out_path, dist, crs_wkt, transform, speed_unit)


def write_distribution(path: str | Path, dist: np.ndarray, crs_wkt: str, transform: Affine, speed_unit: str) -> None:
    """(8, rows, cols) float32 distribution → DEFLATE GeoTIFF with band descriptions, written atomically."""
    import rasterio

    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": len(DIRECTIONS),
        "height": dist.shape[1],
        "width": dist.shape[2],
        "crs": crs_wkt,
        "transform": transform,
        "nodata": float("nan"),
        "compress": "deflate",
        "predictor": 3,
        "interleave": "band",
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(np.ascontiguousarray(dist, dtype=np.float32))
        for band, name in enumerate(DIRECTIONS, start=1):
            dst.set_band_description(band, f"wind from {name}")
        dst.update_tags(
            description="fraction of fire-weather hours (FFWI > per-pixel p99) by wind "
            "from-direction, bands N, NE, E, SE, S, SW, W, NW",
            wind_speed_unit=speed_unit,
            quantile=str(QUANTILE),
        )
