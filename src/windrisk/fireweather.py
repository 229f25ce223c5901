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


def earth_relative(u: np.ndarray, v: np.ndarray, sinalpha: np.ndarray, cosalpha: np.ndarray
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
            [0.03229 + 0.281073 * h - 0.000578 * h * t_f,
             2.22749 + 0.160107 * h - 0.01478 * t_f,
             21.0606 + 0.005565 * h**2 - 0.00035 * h * t_f - 0.483199 * h],
            default=np.nan,
        )


def _check_speed_unit(speed_unit: str) -> None:
    """Raise ValueError naming ``inputs.wind.wind_speed_unit`` unless it is a known unit."""
    if speed_unit not in SPEED_FACTORS:
        raise ValueError(f"inputs.wind.wind_speed_unit is {speed_unit!r}; allowed: {sorted(SPEED_FACTORS)}. "
                         "Fix: set inputs.wind.wind_speed_unit to one of them in the config")


def fosberg(t_k: np.ndarray, rh: np.ndarray, speed_ms: np.ndarray, speed_unit: str = "m/s") -> np.ndarray:
    """Temperature (K), RH (%) and wind speed (m/s) → Fosberg index with U in ``speed_unit``."""
    _check_speed_unit(speed_unit)
    t_f = (np.asarray(t_k, dtype=np.float64) - 273.15) * 9.0 / 5.0 + 32.0
    x = equilibrium_moisture(t_f, rh) / 30.0
    eta = 1.0 - 2.0 * x + 1.5 * x**2 - 0.5 * x**3
    wind = np.asarray(speed_ms, dtype=np.float64) * SPEED_FACTORS[speed_unit]
    return eta * np.sqrt(1.0 + wind**2)


def direction_bins(direction_deg: np.ndarray) -> np.ndarray:
    """From-direction (deg) → sector 0..7 (N, NE, ... NW; N = [337.5, 22.5)), -1 where NaN (int8)."""
    d = np.asarray(direction_deg, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        sector = np.floor(np.mod(d + 22.5, 360.0) / 45.0)
    out = np.where(np.isfinite(sector), np.clip(sector, 0, 7), -1)
    return out.astype(np.int8)


def nan_quantile(values: np.ndarray, q: float) -> np.ndarray:
    """(time, ...) → the q-quantile over time skipping NaN, linear interpolation (numpy's default
    method, type 7); NaN where every hour is NaN. Vectorised (numpy's nanquantile loops per pixel)."""
    ordered = np.sort(values, axis=0)  # NaN sorts last
    n_valid = np.count_nonzero(~np.isnan(values), axis=0)
    pos = np.maximum(n_valid - 1, 0) * q
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(n_valid - 1, 0))
    v_lo = np.take_along_axis(ordered, lo[None], axis=0)[0]
    v_hi = np.take_along_axis(ordered, hi[None], axis=0)[0]
    frac = pos - lo
    # numpy's _lerp form, exact at frac 0 and 1
    out = np.where(frac >= 0.5, v_hi - (v_hi - v_lo) * (1 - frac), v_lo + (v_hi - v_lo) * frac)
    return np.where(n_valid > 0, out, np.nan)


def fire_weather_distribution(ffwi: np.ndarray, sectors: np.ndarray) -> np.ndarray:
    """FFWI and sectors (time, ...) → (8, ...) float32 fractions of the hours above the per-pixel p99.

    NaN in every band where no such hour has a direction.
    """
    p99 = nan_quantile(ffwi, QUANTILE)
    with np.errstate(invalid="ignore"):
        fire = ffwi > p99[None]
    counts = np.stack([np.count_nonzero(fire & (sectors == k), axis=0) for k in range(len(DIRECTIONS))])
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / total, np.nan).astype(np.float32)


def distribution_from_fields(t2: np.ndarray, td2: np.ndarray, u10: np.ndarray, v10: np.ndarray,
                             sinalpha: np.ndarray | None = None, cosalpha: np.ndarray | None = None,
                             speed_unit: str = "m/s") -> np.ndarray:
    """Hourly T2, TD2 (K), U10, V10 (m/s; grid-relative when sin/cos alpha given), dims (time, ...)
    → (8, ...) float32 wind-direction distribution of the fire-weather hours."""
    u, v = np.asarray(u10, dtype=np.float64), np.asarray(v10, dtype=np.float64)
    if sinalpha is not None and cosalpha is not None:
        u, v = earth_relative(u, v, np.asarray(sinalpha)[None], np.asarray(cosalpha)[None])
    speed, direction = speed_and_direction(u, v)
    ffwi = fosberg(t2, relative_humidity(t2, td2), speed, speed_unit)
    return fire_weather_distribution(ffwi, direction_bins(direction))


# ---- file I/O -----------------------------------------------------------------------------------
def _hourly_frame(ds: xr.Dataset, location: str) -> tuple[str, Affine]:
    """The hourly store's CRS (WKT) and pixel-edge Affine from its ``spatial_ref`` variable."""
    from affine import Affine

    attrs = ds["spatial_ref"].attrs if "spatial_ref" in ds.variables else {}
    if "crs_wkt" not in attrs or "GeoTransform" not in attrs:
        raise ValueError(f"inputs.wind.hourly: {location} has no 'spatial_ref' variable with 'crs_wkt' and "
                         "'GeoTransform' attributes. Fix: write the store with a CF grid mapping "
                         "(as windrisk.demo does)")
    try:
        geotransform = parse_geotransform(attrs["GeoTransform"])
    except ValueError as exc:
        raise ValueError(f"inputs.wind.hourly: {location}: cannot read spatial_ref's GeoTransform ({exc}). "
                         "Fix: set it to the 6 numbers of the GDAL GeoTransform of the pixel edges") from None
    return str(attrs["crs_wkt"]), Affine.from_gdal(*geotransform)


def parse_geotransform(value: str | Sequence[float]) -> list[float]:
    """GDAL GeoTransform (string of 6 numbers, or a sequence) → 6 floats.

    Tolerates numpy reprs such as ``np.float64(-123.2)`` inside the string.
    """
    parts = re.sub(r"np\.float\d+\(([^)]*)\)", r"\1", value).replace(",", " ").split() \
        if isinstance(value, str) else value
    numbers = [float(v) for v in parts]
    if len(numbers) != 6:
        raise ValueError(f"GeoTransform {value!r} does not hold 6 numbers (GDAL order)")
    return numbers


def _block_side(n_time: int, chunks: tuple[int, int], memory_bytes: int) -> int:
    """Square block side (px) that keeps a block's working memory under ``memory_bytes``."""
    side = max(1, math.isqrt(max(1, memory_bytes // max(1, n_time * BYTES_PER_PIXEL_HOUR))))
    chunk = min(chunks)
    return side // chunk * chunk if side >= chunk else side


def derive_distribution(hourly_location: str, out_path: str | Path, speed_unit: str = "m/s",
                        memory_bytes: int = DEFAULT_MEMORY_BYTES) -> None:
    """Hourly Zarr store (T2, TD2, U10, V10 over (time, y, x)) → 8-band float32 GeoTIFF at ``out_path``.

    Bands N..NW (described), NaN nodata, in the store's CRS, north-up; processed in spatial
    blocks so memory stays near ``memory_bytes``; written atomically.
    """
    import xarray as xr
    from affine import Affine

    _check_speed_unit(speed_unit)
    try:
        ds = xr.open_zarr(hourly_location, consolidated=False)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise ValueError(f"inputs.wind.hourly: cannot open {hourly_location} as a Zarr store ({exc}). "
                         "Fix: point it at a Zarr store with T2, TD2, U10, V10 over (time, y, x)") from None
    missing = [v for v in ("T2", "TD2", "U10", "V10") if v not in ds]
    if missing:
        raise ValueError(f"inputs.wind.hourly: {hourly_location} lacks {missing}. Fix: provide hourly "
                         "T2, TD2 (K) and U10, V10 (m/s) with dims (time, y, x)")
    crs_wkt, transform = _hourly_frame(ds, hourly_location)
    n_time, ny, nx = (ds["T2"].sizes[d] for d in ("time", "y", "x"))
    enc_chunks = ds["T2"].encoding.get("chunks") or (n_time, ny, nx)
    side = _block_side(n_time, (int(enc_chunks[1]), int(enc_chunks[2])), memory_bytes)
    rotate = "SINALPHA" in ds and "COSALPHA" in ds
    out = np.full((len(DIRECTIONS), ny, nx), np.nan, dtype=np.float32)
    for y0 in range(0, ny, side):
        for x0 in range(0, nx, side):
            sel = {"y": slice(y0, y0 + side), "x": slice(x0, x0 + side)}
            fields = [ds[v].isel(sel).transpose("time", "y", "x").values for v in ("T2", "TD2", "U10", "V10")]
            alpha = [_static(ds[v].isel(sel)) for v in ("SINALPHA", "COSALPHA")] if rotate else [None, None]
            out[:, sel["y"], sel["x"]] = distribution_from_fields(*fields, *alpha, speed_unit=speed_unit)
        log.info("wind distribution: rows %d..%d of %d done", y0, min(y0 + side, ny), ny)
    if transform.e > 0:  # store rows ascend northward: write north-up
        out = out[:, ::-1]
        transform = transform @ Affine.translation(0, ny) @ Affine.scale(1, -1)
    write_distribution(out_path, out, crs_wkt, transform, speed_unit)


def _static(da: xr.DataArray) -> np.ndarray:
    """A (y, x) field, or its first time step when it also has a time dimension."""
    if "time" in da.dims:
        da = da.isel(time=0)
    return da.transpose("y", "x").values


def write_distribution(path: str | Path, dist: np.ndarray, crs_wkt: str, transform: Affine,
                       speed_unit: str) -> None:
    """(8, rows, cols) float32 distribution → DEFLATE GeoTIFF with band descriptions, written atomically."""
    import rasterio

    profile = {"driver": "GTiff", "dtype": "float32", "count": len(DIRECTIONS), "height": dist.shape[1],
               "width": dist.shape[2], "crs": crs_wkt, "transform": transform, "nodata": float("nan"),
               "compress": "deflate", "predictor": 3, "interleave": "band"}
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(np.ascontiguousarray(dist, dtype=np.float32))
        for band, name in enumerate(DIRECTIONS, start=1):
            dst.set_band_description(band, f"wind from {name}")
        dst.update_tags(description="fraction of fire-weather hours (FFWI > per-pixel p99) by wind "
                                    "from-direction, bands N, NE, E, SE, S, SW, W, NW",
                        wind_speed_unit=speed_unit, quantile=str(QUANTILE))
