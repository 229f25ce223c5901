"""The CONUS GeoParquet: streamed concatenation, order, row groups, metadata; the demo run."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

from windrisk import aggregate as agg
from windrisk import buildings as b
from windrisk.settings import Settings, selected_region_ids


def region_file(folder: Path, rid: str, box: tuple[float, float, float, float], n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(box[0], box[2], n), rng.uniform(box[1], box[3], n)
    values = {name: rng.random(n).astype(np.float32) for name in b.VARIABLES}
    ids = np.array([f"{rid}-{i}" for i in range(n)], dtype=object)
    path = folder / f"{rid}.parquet"
    b.write_building_file(b.building_table(rid, ids, x, y, values), path, 1000)
    return path


@pytest.fixture
def regions(tmp_path: Path) -> list[Path]:
    """Four region files (one empty) given out of spatial order."""
    return [
        region_file(tmp_path, "y1_x1", (-100, 40, -90, 45), 300, 1),
        region_file(tmp_path, "y0_x0", (-120, 30, -110, 35), 250, 2),
        region_file(tmp_path, "y0_x1", (-100, 30, -90, 35), 0, 3),
        region_file(tmp_path, "y1_x0", (-120, 40, -110, 45), 200, 4),
    ]


def test_aggregate_streams_rows_into_exact_row_groups(regions: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "conus.parquet"
    assert agg.aggregate(regions, out, row_group_size=120) == 750
    meta = pq.ParquetFile(out).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [120] * 6 + [30]
    gdf = gpd.read_parquet(out)
    assert gdf.crs.to_epsg() == 4326 and gdf["id"].is_unique and len(gdf) == 750
    geo = json.loads(pq.read_schema(out).metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["columns"]["geometry"]["encoding"] == "point"
    assert geo["columns"]["geometry"]["bbox"] == pytest.approx(list(gdf.total_bounds))
    assert pq.read_schema(out).remove_metadata().equals(b.SCHEMA)
    # Files follow the Hilbert key of their first row, and each stays contiguous.
    order = list(dict.fromkeys(gdf["region_id"]))
    firsts = {r: agg.first_key(p) for r, p in zip(["y1_x1", "y0_x0", "y0_x1", "y1_x0"], regions, strict=True)}
    assert order == sorted((r for r in firsts if r != "y0_x1"), key=firsts.__getitem__)


def test_bbox_filters_agree_across_readers(regions: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "conus.parquet"
    agg.aggregate(regions, out, row_group_size=100)
    assert_bbox_counts_agree(out, (-115.0, 31.0, -95.0, 44.0))


def assert_bbox_counts_agree(path: Path, box: tuple[float, float, float, float]) -> None:
    """geopandas' ``bbox=`` read and DuckDB's filter on the point struct count the same rows."""
    xmin, ymin, xmax, ymax = box
    n_gpd = len(gpd.read_parquet(path, bbox=box))
    n_duck = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{path}') WHERE geometry.x BETWEEN {xmin} AND {xmax} "
        f"AND geometry.y BETWEEN {ymin} AND {ymax}"
    ).fetchall()[0][0]
    assert n_gpd == n_duck > 0


def test_only_empty_regions_give_a_valid_empty_file(tmp_path: Path) -> None:
    empty = [region_file(tmp_path, f"y0_x{i}", (-100, 30, -90, 35), 0, i) for i in range(2)]
    assert agg.aggregate(empty, tmp_path / "conus.parquet") == 0
    gdf = gpd.read_parquet(tmp_path / "conus.parquet")
    assert len(gdf) == 0 and gdf.crs.to_epsg() == 4326


def test_foreign_file_is_rejected_with_a_fix(regions: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.Point(0, 0)], crs=4326).to_parquet(bad)
    with pytest.raises(ValueError, match="re-run its buildings_region job"):
        agg.aggregate([*regions, bad], tmp_path / "conus.parquet")
    assert not (tmp_path / "conus.parquet").exists()


# ---- the demo run ---------------------------------------------------------------------------
def expected_owners(cfg: Settings) -> dict[str, str]:
    """id → region of every demo building whose centroid is in a region of the run (independent)."""
    grid = cfg.region_grid()
    footprints = gpd.read_parquet(cfg.inputs.buildings, columns=["id", "geometry"])
    cent = shapely.centroid(footprints.geometry.values)
    owner = grid.region_of_points(shapely.get_x(cent), shapely.get_y(cent))
    run = set(selected_region_ids(cfg, grid))
    return {i: r for i, r in zip(footprints["id"], owner, strict=True) if r in run}


@pytest.mark.slow
def test_demo_every_building_exactly_once(demo_run: Path, demo_cfg: Settings) -> None:
    conus = gpd.read_parquet(Path(demo_cfg.results) / "conus" / "buildings.parquet")
    expected = expected_owners(demo_cfg)
    assert conus["id"].is_unique
    assert len(conus) == len(expected)
    assert dict(zip(conus["id"], conus["region_id"].astype(str), strict=True)) == expected
    # The demo puts centroids exactly on region edges and corners: each landed once, above.
    grid = demo_cfg.region_grid()
    xs = [grid.region_bounds(f"y0_x{c}")[0] for c in range(1, grid.n_chunks[1])]
    ys = [grid.region_bounds(f"y{r}_x0")[1] for r in range(1, grid.n_chunks[0])]
    x, y = conus.geometry.x, conus.geometry.y
    on_edge = x.isin(xs) | y.isin(ys)
    assert on_edge.sum() > 0 and (x.isin(xs) & y.isin(ys)).sum() > 0  # edges and corners present
    assert conus.loc[on_edge, "id"].is_unique


@pytest.mark.slow
def test_demo_values_match_the_store(demo_run: Path, demo_cfg: Settings) -> None:
    from windrisk import store

    grid = demo_cfg.region_grid()
    conus = gpd.read_parquet(Path(demo_cfg.results) / "conus" / "buildings.parquet")
    sample = conus.sample(min(300, len(conus)), random_state=0)
    for rid, rows in sample.groupby(sample["region_id"].astype(str)):
        sentinel = store.read_sentinel(Path(demo_cfg.results) / "store" / "regions" / f"{rid}.json")
        ds = store.open_dataset_at(demo_cfg, sentinel["snapshot_id"])
        row, col = grid.pixel_index(rows.geometry.x.to_numpy(), rows.geometry.y.to_numpy())
        for name in b.VARIABLES:
            want = np.asarray(ds[name].values[row, col], dtype=np.float32)
            got = rows[name].to_numpy(dtype=np.float32, na_value=np.nan)
            np.testing.assert_array_equal(got, want, err_msg=f"{name} in {rid}")
        nan_all = np.isnan(rows[list(b.VARIABLES)].to_numpy(dtype=np.float64, na_value=np.nan)).all(axis=1)
        assert (rows["null_reason"].to_numpy()[nan_all] == b.NO_DATA).all()


@pytest.mark.slow
def test_demo_conus_file_is_valid_for_other_tools(demo_run: Path, demo_cfg: Settings) -> None:
    path = Path(demo_cfg.results) / "conus" / "buildings.parquet"
    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["columns"]["geometry"]["encoding"] == "point"
    gdf = gpd.read_parquet(path)
    assert gdf.crs.to_epsg() == 4326
    x0, y0, x1, y1 = gdf.total_bounds
    assert_bbox_counts_agree(path, (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2))
