"""Fire weather: humidity, the Fosberg index, direction bins and the distribution, by hand."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from pyproj import CRS

from windrisk import fireweather as fw


def test_relative_humidity_magnus() -> None:
    # e_s(10 C) / e_s(30 C) with 6.1094 exp(17.625 T / (T + 243.04)): 12.2606 / 42.3666 hPa
    rh = fw.relative_humidity(np.array([303.15, 290.0, 290.0]), np.array([283.15, 290.0, 290.4]))
    np.testing.assert_allclose(rh, [28.93844, 100.0, 100.0], atol=1e-4)  # Td > T clipped


def test_equilibrium_moisture_three_pieces() -> None:
    t_f = np.array([80.0, 80.0, 60.0, 60.0])
    rh = np.array([5.0, 30.0, 70.0, 10.0])
    expected = [
        0.03229 + 0.281073 * 5 - 0.000578 * 5 * 80,  # 1.206455
        2.22749 + 0.160107 * 30 - 0.01478 * 80,  # 5.8483
        21.0606 + 0.005565 * 70**2 - 0.00035 * 70 * 60 - 0.483199 * 70,  # 13.03517
        2.22749 + 0.160107 * 10 - 0.01478 * 60,  # 10 % is in the middle piece
    ]
    np.testing.assert_allclose(fw.equilibrium_moisture(t_f, rh), expected, rtol=1e-12)
    np.testing.assert_allclose(expected[:3], [1.206455, 5.8483, 13.03517], rtol=1e-9)


def test_fosberg_by_hand_in_both_units() -> None:
    # 300 K = 80.33 F, RH 20 %: m = 4.24235, eta = 0.745759; sqrt(1 + 10^2) = 10.0499
    args = (np.array([300.0]), np.array([20.0]), np.array([10.0]))
    assert fw.fosberg(*args, "m/s")[0] == pytest.approx(7.494780, rel=1e-6)
    # 10 m/s = 22.3694 mph: sqrt(1 + 22.3694^2) = 22.3918
    assert fw.fosberg(*args, "mph")[0] == pytest.approx(16.698803, rel=1e-6)
    with pytest.raises(ValueError, match="wind_speed_unit"):
        fw.fosberg(*args, "knots")


def test_from_direction_is_meteorological() -> None:
    u = np.array([0.0, -5.0, 5.0, 0.0, -3.0, 0.0])
    v = np.array([-5.0, 0.0, 0.0, 5.0, -3.0, 0.0])  # from N, E, W, S, NE, calm
    speed, direction = fw.speed_and_direction(u, v)
    np.testing.assert_allclose(direction[:5], [0.0, 90.0, 270.0, 180.0, 45.0], atol=1e-9)
    assert np.isnan(direction[5]) and speed[5] == 0


def test_rotation_to_earth_relative() -> None:
    # Grid rotated by alpha = 90 degrees: grid-x points north.
    u, v = fw.earth_relative(np.array([1.0]), np.array([0.0]), np.array([1.0]), np.array([0.0]))
    assert (u[0], v[0]) == (0.0, 1.0)


def test_direction_bins_edges_and_wrap_around() -> None:
    deg = np.array([0.0, 22.4, 22.5, 67.4999, 67.5, 180.0, 292.5, 337.4, 337.5, 359.99, 360.0, -10.0, np.nan])
    expected = [0, 0, 1, 1, 2, 4, 7, 7, 0, 0, 0, 0, -1]
    np.testing.assert_array_equal(fw.direction_bins(deg), expected)


def test_distribution_of_fire_weather_hours() -> None:
    hours = 200
    ffwi = np.zeros((hours, 4))
    ffwi[:, 0] = np.arange(hours)  # p99 = 197.01: hours 198 and 199 are fire weather
    ffwi[:, 1] = np.arange(hours)
    ffwi[:, 2] = np.nan  # no data
    ffwi[:, 3] = 5.0  # constant: no hour above p99
    sectors = np.full((hours, 4), 4, dtype=np.int8)
    sectors[198, 0], sectors[199, 0] = 0, 1  # N and NE
    sectors[198, 1], sectors[199, 1] = 6, -1  # W and a calm hour (no direction)
    ffwi[150, 0] = np.nan  # a NaN hour is skipped: p99 of 199 values 0..199 without 150
    dist = fw.fire_weather_distribution(ffwi, sectors)
    assert dist.shape == (8, 4) and dist.dtype == np.float32
    np.testing.assert_array_equal(dist[:, 0], [0.5, 0.5, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(dist[:, 1], [0, 0, 0, 0, 0, 0, 1, 0])
    assert np.isnan(dist[:, 2]).all() and np.isnan(dist[:, 3]).all()


def test_nan_quantile_is_numpys_linear() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((301, 5, 6))
    a[rng.random(a.shape) < 0.2] = np.nan
    np.testing.assert_allclose(fw.nan_quantile(a, 0.99), np.nanquantile(a, 0.99, axis=0), rtol=1e-14)


def _write_store(path: str, north_up: bool, with_alpha: bool) -> None:
    """3 x 4 pixels, 300 hours: westerly breeze, 3 hot dry hours from the NE (SW at pixel 0, 0).

    p99 of 300 hours lies between the 4th and 3rd largest values: exactly the 3 hot hours exceed it.
    """
    hours, ny, nx = 300, 3, 4
    t2 = np.full((hours, ny, nx), 290.0, np.float32)
    td2 = np.full((hours, ny, nx), 285.0, np.float32)
    u = np.full((hours, ny, nx), 3.0, np.float32)  # from W
    v = np.zeros((hours, ny, nx), np.float32)
    hot = [10, 150, 290]
    t2[hot], td2[hot] = 305.0, 260.0
    for hour, speed in zip(hot, (6.0, 7.0, 8.0), strict=True):
        u[hour], v[hour] = -speed, -speed  # from NE
        u[hour, 0, 0], v[hour, 0, 0] = speed, speed  # from SW at the store's first row and column
    y = np.array([38.5, 38.3, 38.1]) if north_up else np.array([38.1, 38.3, 38.5])
    x = np.array([-123.1, -122.9, -122.7, -122.5])
    gt = f"-123.2 0.2 0.0 {38.6 if north_up else 38.0} 0.0 {-0.2 if north_up else 0.2}"
    data = {k: (("time", "y", "x"), a) for k, a in (("T2", t2), ("TD2", td2), ("U10", u), ("V10", v))}
    if with_alpha:  # grid rotated by 90 degrees: earth (u, v) = (-V, U) => grid U = v, V = -u
        data["U10"], data["V10"] = (("time", "y", "x"), v), (("time", "y", "x"), -u)
        data["SINALPHA"] = (("y", "x"), np.ones((ny, nx), np.float32))
        data["COSALPHA"] = (("y", "x"), np.zeros((ny, nx), np.float32))
    data["spatial_ref"] = ((), np.int32(0), {"crs_wkt": CRS.from_epsg(4326).to_wkt(), "GeoTransform": gt})
    xr.Dataset(data, coords={"time": np.arange(hours), "y": y, "x": x}).to_zarr(path, zarr_format=3, consolidated=False)


@pytest.mark.parametrize(("north_up", "with_alpha"), [(True, False), (False, True)])
def test_derive_distribution_writes_an_8_band_geotiff(tmp_path, north_up: bool, with_alpha: bool) -> None:
    store, out = str(tmp_path / "hourly.zarr"), tmp_path / "dist.tif"
    _write_store(store, north_up, with_alpha)
    fw.derive_distribution(store, out, "m/s", memory_bytes=300 * fw.BYTES_PER_PIXEL_HOUR * 4)  # 2 x 2 px blocks
    with rasterio.open(out) as src:
        dist = src.read()
        assert src.count == 8 and src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert src.descriptions[0] == "wind from N" and src.descriptions[7] == "wind from NW"
        assert src.transform.e < 0 and src.crs == CRS.from_epsg(4326)
        assert src.transform.c == pytest.approx(-123.2) and src.transform.f == pytest.approx(38.6)
    ne = np.zeros(8, np.float32)
    ne[fw.DIRECTIONS.index("NE")] = 1
    sw = np.zeros(8, np.float32)
    sw[fw.DIRECTIONS.index("SW")] = 1
    special = (0, 0) if north_up else (2, 0)  # the store's first row is the file's first or last
    for r in range(3):
        for c in range(4):
            np.testing.assert_array_equal(dist[:, r, c], sw if (r, c) == special else ne)
    assert not list(tmp_path.glob(".dist*"))  # no temp file left behind


def test_snakemake_marker_in_the_hourly_store_does_not_warn(tmp_path: Path) -> None:
    """Issue 14: Snakemake's `.snakemake_timestamp` in a directory() output made zarr warn on each open."""
    store = tmp_path / "hourly.zarr"
    _write_store(str(store), north_up=True, with_alpha=False)
    (store / ".snakemake_timestamp").touch()  # what Snakemake leaves in the demo's hourly store
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        assert set(fw.HOURLY_VARIABLES) <= set(fw.open_hourly(str(store)).data_vars)
        assert set(fw.HOURLY_VARIABLES) <= set(fw.open_hourly(str(store), chunks={}).data_vars)
    # Only that file is ignored: another stray object still warns.
    (store / "stray.txt").touch()
    with pytest.warns(UserWarning, match=r"Object at stray\.txt is not recognized"):
        fw.open_hourly(str(store))
