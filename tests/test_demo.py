"""The synthetic demo inputs: deterministic, in the real products' formats, with the traps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import rasterio
import shapely
import xarray as xr
import yaml
from conftest import DEMO_CONFIG, run_snakemake
from pyproj import CRS
from scipy import ndimage

from windrisk import wind
from windrisk.config import load_config
from windrisk.demo import NODATA, Coast, generate_demo_inputs
from windrisk.fireweather import derive_distribution
from windrisk.grid import RegionGrid
from windrisk.paths import demo_outputs
from windrisk.rasters import read_on_grid
from windrisk.settings import Settings

SMALL = {"n_buildings": 12_000, "hours": 96}
OCEAN_REGIONS = ("y0_x0", "y1_x0", "y2_x0")
RASTER_KEYS = {
    "bp_2011": "burn_probability.2011",
    "bp_2047": "burn_probability.2047",
    "crps": "crps",
    "rps": "rps",
}


def small_config(workdir: Path, seed: int) -> Settings:
    """The demo config with fewer buildings and hours, inputs under ``workdir``."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["demo"] = {**raw["demo"], **SMALL, "seed": seed}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    inputs = cfg["inputs"]
    inputs["burn_probability"] = {k: str(workdir / v) for k, v in inputs["burn_probability"].items()}
    for key in ("crps", "rps", "buildings"):
        inputs[key] = str(workdir / inputs[key])
    inputs["wind"]["hourly"] = str(workdir / inputs["wind"]["hourly"])
    cfg["demo"]["dir"] = str(workdir / cfg["demo"]["dir"])
    return Settings.of(cfg)


def paths_of(cfg: Settings) -> dict[str, str]:
    return demo_outputs(cfg.demo)


def file_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (the Zarr store is a directory) → its bytes."""
    # Snakemake marks directory outputs with its own timestamp file.
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".snakemake_timestamp")
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def via_snakemake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    """Inputs made by the demo_inputs rule (through scripts/demo_inputs.py)."""
    workdir = tmp_path_factory.mktemp("demo_sm")
    cfg = small_config(workdir, seed=7)
    run_snakemake(workdir, "--cores", "1", "demo_inputs", configfile=workdir / "config.yaml", timeout=300)
    return workdir, cfg


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    workdir = tmp_path_factory.mktemp("demo_py")
    cfg = small_config(workdir, seed=7)
    generate_demo_inputs(cfg)
    return workdir, cfg


@pytest.fixture(scope="module")
def grid(demo: tuple[Path, Settings]) -> RegionGrid:
    return demo[1].region_grid()


def test_same_seed_gives_identical_bytes(via_snakemake: tuple[Path, Settings], demo: tuple[Path, Settings]) -> None:
    a, b = file_bytes(via_snakemake[0] / "resources"), file_bytes(demo[0] / "resources")
    assert len(a) > 10 and sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
    log = via_snakemake[0] / "results" / "logs" / "demo_inputs" / "demo_inputs.log"
    assert "writing 12000 buildings" in log.read_text()


def test_different_seed_gives_different_files(tmp_path: Path, demo: tuple[Path, Settings]) -> None:
    cfg = small_config(tmp_path, seed=8)
    generate_demo_inputs(cfg)
    for key, path in paths_of(cfg).items():
        other = paths_of(demo[1])[key]
        if key == "wind":
            assert (
                Path(path, "T2", "c", "0", "0", "0").read_bytes() != Path(other, "T2", "c", "0", "0", "0").read_bytes()
            )
        elif key in ("states", "counties"):  # real Census shapes: the seed has nothing to vary
            assert Path(path).read_bytes() == Path(other).read_bytes(), key
        else:
            assert Path(path).read_bytes() != Path(other).read_bytes(), key


@pytest.mark.parametrize("key", RASTER_KEYS)
def test_rasters_are_product_like(demo: tuple[Path, Settings], key: str) -> None:
    with rasterio.open(paths_of(demo[1])[key]) as src:
        assert src.crs.to_epsg() == 5070 and src.count == 1 and src.dtypes[0] == "float32"
        assert src.nodata == NODATA == -3.4028234663852886e38
        assert src.transform.e < 0 and src.transform.b == src.transform.d == 0  # north-up
        assert src.res == ((270.0, 270.0) if key.startswith("bp") else (30.0, 30.0))
        assert src.transform.c % 270 == 0 and src.transform.f % 270 == 0  # 270 m and 30 m aligned
        data = src.read(1, masked=True)
    assert 0.05 < data.mask.mean() < 0.6  # an ocean, and land
    if key.startswith("bp"):
        assert data.min() == 0 and 1e-4 <= np.ma.median(data[data > 0]) and data.max() <= 0.08
    if key == "crps":
        assert 0 <= data.min() and data.max() <= 100 and data.mean() > 10


def test_burn_probability_zeros_and_climate_runs(demo: tuple[Path, Settings]) -> None:
    paths = paths_of(demo[1])
    with rasterio.open(paths["bp_2011"]) as a, rasterio.open(paths["bp_2047"]) as b:
        bp11, bp47 = a.read(1, masked=True).filled(np.nan), b.read(1, masked=True).filled(np.nan)
    land = np.isfinite(bp11)
    assert (np.isfinite(bp47) == land).all()
    assert (bp47[land] >= bp11[land]).all() and bp47[land].mean() > 1.15 * bp11[land].mean() - 1e-9
    pos = np.nan_to_num(bp11) > 0
    four_pos = pos[:-2, 1:-1] & pos[2:, 1:-1] & pos[1:-1, :-2] & pos[1:-1, 2:]
    isolated = (bp11[1:-1, 1:-1] == 0) & four_pos
    assert isolated.sum() >= 20
    assert ((bp11 == 0).sum() - isolated.sum()) > 100  # non-burnable patches too


@pytest.fixture(scope="module")
def bp_on_grid(demo: tuple[Path, Settings], grid: RegionGrid) -> np.ndarray:
    """BP 2011 on the whole grid as the region jobs read it (gap-filled, nearest onto the grid)."""
    workdir, cfg = demo
    distribution = str(workdir / "wind_direction_distribution.tif")
    wind_cfg = cfg.inputs.wind
    derive_distribution(wind_cfg.hourly, distribution, wind_cfg.wind_speed_unit)
    return wind.load_window_inputs(cfg, grid, grid.full_window, distribution).bp["2011"]


def land_zero_shares(bp: np.ndarray, grid: RegionGrid) -> dict[str, float]:
    """Share of land pixels with BP 0 in each region that has land."""
    shares = {}
    for rid in grid.all_region_ids:
        region = bp[grid.region_slices(rid)]
        land = np.isfinite(region)
        if land.any():
            shares[rid] = float((region[land] == 0).mean())
    return shares


def test_non_burnable_share_is_realistic_and_varies_by_region(bp_on_grid: np.ndarray, grid: RegionGrid) -> None:
    land = np.isfinite(bp_on_grid)
    assert 0.25 <= (bp_on_grid[land] == 0).mean() <= 0.5
    shares = land_zero_shares(bp_on_grid, grid)
    assert len(shares) == len(grid.all_region_ids) - len(OCEAN_REGIONS)
    assert 0.2 <= min(shares.values()) and max(shares.values()) <= 0.55, shares
    assert max(shares.values()) - min(shares.values()) >= 0.05, shares


def test_zero_patches_cross_region_edges(bp_on_grid: np.ndarray, grid: RegionGrid) -> None:
    owner = np.empty(grid.shape, dtype=np.int64)
    for k, rid in enumerate(grid.all_region_ids):
        owner[grid.region_slices(rid)] = k
    labels, n = ndimage.label(bp_on_grid == 0)  # 4-connected patches of non-burnable land
    assert n > 10  # patches of many sizes, not one
    n_regions = len(grid.all_region_ids)
    in_patch = labels > 0
    pairs = np.unique(labels[in_patch] * n_regions + owner[in_patch])  # (patch, region) pairs
    regions_per_patch = np.bincount(pairs // n_regions, minlength=n + 1)
    assert (regions_per_patch >= 2).sum() >= 1
    # Zeros on both sides of the x2/x3 edge (land all along): seams meet non-burnable land.
    col = grid.chunks[1] * (grid.n_chunks[1] - 1)
    across = (bp_on_grid[:, col - 1] == 0) & (bp_on_grid[:, col] == 0)
    assert across.sum() >= 20


def test_rps_is_bp_times_crps(demo: tuple[Path, Settings]) -> None:
    paths = paths_of(demo[1])
    with (
        rasterio.open(paths["bp_2011"]) as b,
        rasterio.open(paths["crps"]) as c,
        rasterio.open(paths["rps"]) as r,
    ):
        bp = b.read(1, masked=True).filled(np.nan)
        crps, rps = c.read(1, masked=True).filled(np.nan), r.read(1, masked=True).filled(np.nan)
        assert c.transform.c == b.transform.c and c.transform.f == b.transform.f
    bp30 = np.repeat(np.repeat(bp, 9, axis=0), 9, axis=1)
    np.testing.assert_allclose(rps, bp30 * crps, rtol=1e-6)


def test_ocean_regions_are_nodata_in_every_raster(demo: tuple[Path, Settings], grid: RegionGrid) -> None:
    paths = paths_of(demo[1])
    for key, name in RASTER_KEYS.items():
        for rid in grid.all_region_ids:
            values = read_on_grid(paths[key], grid, grid.region_window(rid), name=f"inputs.{name}")
            nan = np.isnan(values).mean()
            if rid in OCEAN_REGIONS:
                assert nan == 1.0, (key, rid)
            elif rid.endswith("_x1"):
                assert 0.1 < nan < 0.9, (key, rid)  # the coastline crosses it
            else:
                assert nan == 0.0, (key, rid)


def test_hourly_store_format(demo: tuple[Path, Settings], grid: RegionGrid) -> None:
    ds = xr.open_zarr(paths_of(demo[1])["wind"], consolidated=False, zarr_format=3)
    assert {"T2", "TD2", "U10", "V10", "SINALPHA", "COSALPHA", "spatial_ref"} <= set(ds.variables)
    for name in ("T2", "TD2", "U10", "V10"):
        assert ds[name].dims == ("time", "y", "x") and ds[name].dtype == np.float32
        assert ds[name].attrs["grid_mapping"] == "spatial_ref"
    assert ds.sizes["time"] == SMALL["hours"] and (np.diff(ds.time.values) == np.timedelta64(1, "h")).all()
    assert CRS.from_wkt(ds.spatial_ref.attrs["crs_wkt"]).to_epsg() == 4326
    x_left, dx, _, y_top, _, dy = (float(v) for v in ds.spatial_ref.attrs["GeoTransform"].split())
    np.testing.assert_allclose(ds.x.values, x_left + dx * (np.arange(ds.sizes["x"]) + 0.5))
    np.testing.assert_allclose(ds.y.values, y_top + dy * (np.arange(ds.sizes["y"]) + 0.5))
    left, bottom, right, top = grid.window_bounds(grid.full_window)
    assert x_left < left and x_left + dx * ds.sizes["x"] > right and y_top > top
    assert y_top + dy * ds.sizes["y"] < bottom

    t2, td2 = ds.T2.values, ds.TD2.values
    speed = np.hypot(ds.U10.values, ds.V10.values)
    assert np.isnan(t2).all(axis=(1, 2)).sum() >= 1  # missing hours
    assert 270 < np.nanmin(t2) and np.nanmax(t2) < 320 and np.nanmax(td2 - t2) <= 0
    assert np.nanmax(speed) > 10 and np.nanmedian(speed) < 8  # windy episodes in calm weather
    # Every coarse pixel under the ocean regions is NaN at every hour; land pixels are not.
    col = np.floor((grid.x_coords(grid.region_window("y1_x0").cols) - x_left) / dx).astype(int)
    assert np.isnan(t2[:, :, np.unique(col)]).all()
    east = np.floor((grid.x_coords(grid.region_window("y1_x3").cols) - x_left) / dx).astype(int)
    assert np.isfinite(t2[:, :, np.unique(east)]).mean() > 0.9


def test_buildings_are_overture_like(demo: tuple[Path, Settings]) -> None:
    path = paths_of(demo[1])["buildings"]
    gdf = gpd.read_parquet(path)
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == SMALL["n_buildings"]
    table = pq.read_table(path)
    assert table.column_names == ["id", "geometry", "bbox"]
    assert gdf["id"].is_unique and gdf["id"].map(lambda s: bool(re.fullmatch(r"[0-9a-f]{32}", s))).all()
    assert set(gdf.geom_type) == {"Polygon"}
    bounds = shapely.bounds(gdf.geometry.values)
    bbox = np.array([[b[k] for k in ("xmin", "ymin", "xmax", "ymax")] for b in table["bbox"].to_pylist()])
    np.testing.assert_array_equal(bbox, bounds)
    size_m = (bounds[:, 3] - bounds[:, 1]) * 111_320
    assert 5 < size_m.min() and size_m.max() < 45

    meta = pq.ParquetFile(path).metadata
    geo = json.loads(meta.metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["columns"]["geometry"]["encoding"] == "WKB"
    assert geo["columns"]["geometry"]["covering"]["bbox"]["xmin"] == ["bbox", "xmin"]
    assert meta.num_row_groups == 3 and meta.row_group(0).column(0).compression == "ZSTD"
    # Spatially sorted: the bbox statistics of a row group rule it out for most regions.
    names = [meta.schema.column(j).path for j in range(meta.num_columns)]
    stats = [
        {k: meta.row_group(i).column(names.index(f"bbox.{k}")).statistics for k in ("xmin", "ymin", "xmax", "ymax")}
        for i in range(meta.num_row_groups)
    ]
    grid = demo[1].region_grid()
    touched = []
    for rid in grid.all_region_ids:
        left, bottom, right, top = grid.region_bounds(rid)
        touched.append(
            sum(
                s["xmin"].min < right and s["xmax"].max > left and s["ymin"].min < top and s["ymax"].max > bottom
                for s in stats
            )
        )
    assert np.mean(touched) < 2.0, touched


def test_buildings_on_edges_corners_coast_and_outside(demo: tuple[Path, Settings], grid: RegionGrid) -> None:
    gdf = gpd.read_parquet(paths_of(demo[1])["buildings"])
    centroids = shapely.centroid(gdf.geometry.values)
    x, y = shapely.get_x(centroids), shapely.get_y(centroids)
    col_edges = {(grid.transform @ (k * grid.chunks[1], 0))[0] for k in range(1, grid.n_chunks[1])}
    row_edges = {(grid.transform @ (0, k * grid.chunks[0]))[1] for k in range(1, grid.n_chunks[0])}
    on_col, on_row = np.isin(x, list(col_edges)), np.isin(y, list(row_edges))
    assert (on_col & ~on_row).sum() >= 4 and (on_row & ~on_col).sum() >= 4
    assert (on_col & on_row).sum() >= 4  # interior corners on land
    owners = grid.region_of_points(x, y)
    assert len(owners) == len(gdf) and (owners != "").sum() > 0.99 * len(gdf)
    assert 3 <= (owners == "").sum() <= 40  # a few outside the grid
    assert not np.isin(owners, OCEAN_REGIONS).any()
    coast = Coast(grid)
    at_sea = ~coast.is_land(x, y)
    assert 1 <= at_sea.sum() <= 12 and (np.abs(x - coast.lon(y))[at_sea] < 2e-4).all()
