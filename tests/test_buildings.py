"""Per-region building files: ownership, candidate pruning, values, scores, nulls, file format."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely
from affine import Affine

from windrisk import buildings as b
from windrisk.grid import RegionGrid

# Binary-exact pixel size and origin, so region edges are exact floats: 2 x 2 regions of 8 x 8 px.
GRID = RegionGrid("EPSG:4326", Affine(0.25, 0, -123.0, 0, 0.25, 37.0), (16, 16), (8, 8))
EDGE_X, EDGE_Y = -121.0, 39.0  # the shared vertical and horizontal region edges
HALF = 0.0625  # footprint half-size; binary-exact, so box centroids are exact


def write_footprints(path: Path, centres: list[tuple[float, float]], row_group_size: int = 4) -> list[str]:
    """An Overture-style GeoParquet 1.1 (WKB boxes + bbox covering), Hilbert-sorted."""
    x, y = np.array(centres).T
    ids = [f"bld{i:04d}" for i in range(len(x))]
    gdf = gpd.GeoDataFrame({"id": ids}, geometry=shapely.box(x - HALF, y - HALF, x + HALF, y + HALF), crs=4326)
    gdf = gdf.iloc[np.argsort(gdf.hilbert_distance())]
    gdf.to_parquet(path, schema_version="1.1.0", write_covering_bbox=True, row_group_size=row_group_size)
    return ids


def constant_arrays(value: float = 0.5) -> dict[str, np.ndarray]:
    return {name: np.full(GRID.chunks, value, np.float32) for name in b.VARIABLES}


def all_regions(path: Path, arrays: dict[str, np.ndarray] | None = None) -> dict[str, object]:
    return {rid: b.region_buildings(str(path), GRID, rid, arrays or constant_arrays()) for rid in GRID.all_region_ids}


def test_edge_and_corner_centroids_land_in_exactly_one_region(tmp_path: Path) -> None:
    centres = [(EDGE_X, EDGE_Y), (EDGE_X, 38.0), (-122.0, EDGE_Y), (-122.5, 38.5), (-119.5, 40.0)]
    ids = write_footprints(tmp_path / "b.parquet", centres)
    tables = all_regions(tmp_path / "b.parquet")
    found = [i for t in tables.values() for i in t.column("id").to_pylist()]
    assert sorted(found) == sorted(ids)  # each building exactly once
    owner = {i: rid for rid, t in tables.items() for i in t.column("id").to_pylist()}
    # Half-open [left, right) x [bottom, top) with rows ascending north: edges go east / north.
    assert [owner[i] for i in ids] == ["y1_x1", "y0_x1", "y1_x0", "y0_x0", "y1_x1"]


def test_outer_edges_and_outside_points(tmp_path: Path) -> None:
    left, bottom, right, top = GRID.window_bounds(GRID.full_window)
    ids = write_footprints(tmp_path / "b.parquet", [(left, bottom), (right, top), (right - 1e-9, top - 1e-9), (left - 1, 38)])
    tables = all_regions(tmp_path / "b.parquet")
    owner = {i: rid for rid, t in tables.items() for i in t.column("id").to_pylist()}
    assert owner == {ids[0]: "y0_x0", ids[2]: "y1_x1"}  # the top/right outer edge is outside


def test_candidate_filter_prunes_row_groups(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    centres = list(zip(rng.uniform(-122.9, -119.1, 400), rng.uniform(37.1, 40.9, 400), strict=True))
    write_footprints(tmp_path / "b.parquet", centres, row_group_size=25)
    total = pq.ParquetFile(tmp_path / "b.parquet").metadata.num_row_groups
    read = {rid: len(b.candidate_fragments(str(tmp_path / "b.parquet"), GRID.region_bounds(rid))[0]) for rid in GRID.all_region_ids}
    assert total == 16
    assert all(0 < n < total for n in read.values()), read
    assert max(read.values()) <= 0.6 * total  # a region reads about its share
    assert sum(t.num_rows for t in all_regions(tmp_path / "b.parquet").values()) == 400


def test_values_are_read_at_the_centroid_pixel(tmp_path: Path) -> None:
    centres = [(-122.9, 37.1), (-121.13, 38.99), (EDGE_X, EDGE_Y)]
    ids = write_footprints(tmp_path / "b.parquet", centres)
    rows, cols = np.indices(GRID.chunks)
    arrays = {name: (rows * 100 + cols + k / 10).astype(np.float32) for k, name in enumerate(b.VARIABLES)}
    tables = all_regions(tmp_path / "b.parquet", arrays)
    for i, (x, y) in zip(ids, centres, strict=True):
        row, col = GRID.pixel_index(np.array([x]), np.array([y]))
        rid = GRID.region_of_points(np.array([x]), np.array([y]))[0]
        table = tables[rid].to_pandas()
        got = table[table["id"] == i].iloc[0]
        assert got["region_id"] == rid
        assert got["bp_2011"] == pytest.approx((row[0] % 8) * 100 + col[0] % 8)
        assert got["crps"] == pytest.approx((row[0] % 8) * 100 + col[0] % 8 + 0.4)


@pytest.mark.parametrize(
    ("rps", "expected"),
    [
        (0.0, 0), (-1e-6, 0), (1e-9, 1), (0.01, 1), (0.0100001, 2), (0.02, 2), (0.035, 3), (0.036, 4),
        (0.06, 4), (0.1, 5), (0.2, 6), (0.5, 7), (1.0, 8), (3.0, 9), (3.0001, 10), (100.0, 10), (250.0, 10),
    ],
)
def test_score_bins_are_closed_on_the_right(rps: float, expected: int) -> None:
    assert b.score(np.array([rps], np.float32)).to_pylist() == [expected]


def test_score_is_null_where_rps_is_null() -> None:
    assert b.score(np.array([np.nan, 0.5])).to_pylist() == [None, 7]


def test_nan_pixels_give_nulls_with_a_reason(tmp_path: Path) -> None:
    ids = write_footprints(tmp_path / "b.parquet", [(-122.9, 37.1), (-122.4, 37.6), (-122.0, 38.0)])
    arrays = constant_arrays()
    for name in b.VARIABLES:
        arrays[name][0, 0] = np.nan  # the pixel of the first building
    arrays["crps"][2, 2] = np.nan  # the second: one variable missing
    table = b.region_buildings(str(tmp_path / "b.parquet"), GRID, "y0_x0", arrays).to_pandas().set_index("id")
    assert table.loc[ids[0], "null_reason"] == b.NO_DATA
    assert table.loc[ids[0], list(b.VARIABLES)].isna().all()
    assert pd_isna(table.loc[ids[0], "score_2011"])
    assert table.loc[ids[1], "null_reason"] == b.PARTIAL_DATA
    assert pd_isna(table.loc[ids[1], "crps"]) and table.loc[ids[1], "bp_2011"] == 0.5
    assert pd_isna(table.loc[ids[2], "null_reason"])
    no_data = b.region_buildings(str(tmp_path / "b.parquet"), GRID, "y0_x0", None)
    assert set(no_data.column("null_reason").to_pylist()) == {b.NO_DATA}


def pd_isna(value: object) -> bool:
    return value is None or value != value  # noqa: PLR0124 - NaN test


def test_file_is_geoparquet_1_1_with_point_encoding_and_sorted(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    centres = list(zip(rng.uniform(-122.9, -121.1, 300), rng.uniform(37.1, 38.9, 300), strict=True))
    write_footprints(tmp_path / "b.parquet", centres)
    table = b.region_buildings(str(tmp_path / "b.parquet"), GRID, "y0_x0", constant_arrays())
    b.write_building_file(table, tmp_path / "out.parquet", 100)
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.remove_metadata().equals(b.SCHEMA)
    geo = json.loads(schema.metadata[b"geo"])
    column = geo["columns"]["geometry"]
    assert geo["version"] == "1.1.0" and column["encoding"] == "point" and column["crs"]["id"]["code"] == 4326
    gdf = gpd.read_parquet(tmp_path / "out.parquet")
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == 300
    assert column["bbox"] == pytest.approx(list(gdf.total_bounds))
    keys = b.hilbert_key(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
    assert np.all(np.diff(keys.astype(np.int64)) >= 0)
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups == 3
    assert len(gpd.read_parquet(tmp_path / "out.parquet", bbox=(-122.9, 37.1, -122.0, 38.0))) == int(
        ((gdf.geometry.x <= -122.0) & (gdf.geometry.y <= 38.0)).sum()
    )


def test_empty_region_writes_a_valid_empty_file(tmp_path: Path) -> None:
    write_footprints(tmp_path / "b.parquet", [(-122.9, 37.1)])
    table = b.region_buildings(str(tmp_path / "b.parquet"), GRID, "y1_x1", constant_arrays())
    b.write_building_file(table, tmp_path / "empty.parquet", 100)
    gdf = gpd.read_parquet(tmp_path / "empty.parquet")
    assert len(gdf) == 0 and gdf.crs.to_epsg() == 4326
    assert pq.read_schema(tmp_path / "empty.parquet").remove_metadata().equals(b.SCHEMA)


def test_input_without_covering_is_rejected_with_a_fix(tmp_path: Path) -> None:
    gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(-122, 38, -121.9, 38.1)], crs=4326).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(ValueError, match="write_covering_bbox=True"):
        b.region_buildings(str(tmp_path / "b.parquet"), GRID, "y0_x0", constant_arrays())


def test_hilbert_key_matches_geopandas() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-128, -64, 2000), rng.uniform(22, 53, 2000)
    expected = gpd.GeoSeries(shapely.points(x, y)).hilbert_distance(total_bounds=b.CONUS_EXTENT, level=16)
    assert np.array_equal(b.hilbert_key(x, y).astype(np.int64), expected.to_numpy().astype(np.int64))
