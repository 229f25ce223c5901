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
    ids = write_footprints(
        tmp_path / "b.parquet", [(left, bottom), (right, top), (right - 1e-9, top - 1e-9), (left - 1, 38)]
    )
    tables = all_regions(tmp_path / "b.parquet")
    owner = {i: rid for rid, t in tables.items() for i in t.column("id").to_pylist()}
    assert owner == {ids[0]: "y0_x0", ids[2]: "y1_x1"}  # the top/right outer edge is outside


def test_candidate_filter_prunes_row_groups(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    centres = list(zip(rng.uniform(-122.9, -119.1, 400), rng.uniform(37.1, 40.9, 400), strict=True))
    write_footprints(tmp_path / "b.parquet", centres, row_group_size=25)
    total = pq.ParquetFile(tmp_path / "b.parquet").metadata.num_row_groups
    read = {
        rid: len(b.candidate_fragments(str(tmp_path / "b.parquet"), GRID.region_bounds(rid))[0])
        for rid in GRID.all_region_ids
    }
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
        (0.0, 0),
        (-1e-6, 0),
        (1e-9, 1),
        (0.01, 1),
        (0.0100001, 2),
        (0.02, 2),
        (0.035, 3),
        (0.036, 4),
        (0.06, 4),
        (0.1, 5),
        (0.2, 6),
        (0.5, 7),
        (1.0, 8),
        (3.0, 9),
        (3.0001, 10),
        (100.0, 10),
        (250.0, 10),
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
    gpd.GeoDataFrame({"id": ["a"]}, geometry=[shapely.box(-122, 38, -121.9, 38.1)], crs=4326).to_parquet(
        tmp_path / "b.parquet"
    )
    with pytest.raises(ValueError, match="no bbox covering column.*write_covering_bbox=True"):
        b.region_buildings(str(tmp_path / "b.parquet"), GRID, "y0_x0", constant_arrays())


def test_hilbert_key_matches_geopandas() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-128, -64, 2000), rng.uniform(22, 53, 2000)
    expected = gpd.GeoSeries(shapely.points(x, y)).hilbert_distance(total_bounds=b.CONUS_EXTENT, level=16)
    assert np.array_equal(b.hilbert_key(x, y).astype(np.int64), expected.to_numpy().astype(np.int64))


# ---- rows that cannot be written: counted by the region and by the input check's census --------
def raw_buildings(path: Path, rows: list[tuple[str | None, bytes | None, tuple[float, ...] | None]]) -> Path:
    """An Overture-style file written row by row, defects included (geopandas would refuse them)."""
    import pyarrow as pa

    bbox_type = pa.struct([(k, pa.float64()) for k in ("xmin", "ymin", "xmax", "ymax")])
    table = pa.table(
        {
            "id": pa.array([r[0] for r in rows], pa.string()),
            "geometry": pa.array([r[1] for r in rows], pa.binary()),
            "bbox": pa.array(
                [
                    None if r[2] is None else dict(zip(("xmin", "ymin", "xmax", "ymax"), r[2], strict=True))
                    for r in rows
                ],
                bbox_type,
            ),
        }
    )
    geo = {
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
                "covering": {"bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}},
            }
        },
    }
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)}), path, row_group_size=3)
    return path


def box_row(key: str | None, x: float, y: float) -> tuple[str | None, bytes, tuple[float, ...]]:
    geom = shapely.box(x - HALF, y - HALF, x + HALF, y + HALF)
    return key, shapely.to_wkb(geom), shapely.bounds(geom)


def test_defects_are_dropped_counted_and_reconciled(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(-122.6, 37.6), (-122.4, 37.8), (-122.4, 37.6), (-122.6, 37.8)])
    nan_poly = shapely.to_wkb(shapely.Polygon([(-122.5, 37.5), (float("nan"), 37.6), (-122.4, 37.5)]))
    rows = [
        box_row("ok1", -122.5, 37.5),
        box_row(None, -122.5, 37.4),  # null id
        ("nullgeom", None, (-122.6, 37.4, -122.5, 37.5)),  # null geometry, bbox in y0_x0
        ("nothing", None, None),  # no location at all
        ("corrupt", b"\x01\x07\x00\x00", (-122.6, 37.4, -122.5, 37.5)),  # unparseable WKB
        ("empty", shapely.to_wkb(shapely.Polygon()), (-122.6, 37.4, -122.5, 37.5)),
        ("nan", nan_poly, (-122.6, 37.4, -122.5, 37.5)),
        ("bowtie", shapely.to_wkb(bowtie), shapely.bounds(bowtie)),  # invalid: kept, repaired
        box_row("dup", -122.5, 37.3),  # same id, same shape: once
        box_row("dup", -122.5, 37.3),
        box_row("dup2", -122.2, 37.3),  # same id, other shapes
        box_row("dup2", -120.5, 38.5),  # ... in another region
        box_row("far", -100.0, 37.0),  # outside the grid
    ]
    path = raw_buildings(tmp_path / "b.parquet", rows)
    found, census = b.census_problems(str(path), GRID, list(GRID.all_region_ids), max_dropped_fraction=1.0)
    assert found == []
    assert census["rows"] == 13 and census["outside_grid"] == 1 and census["no_location"]["null_geometry"] == 1
    assert census["duplicate_ids"] == {"dup": b.wkb_digest(rows[8][1]), "dup2": b.wkb_digest(rows[10][1])}
    tables = {rid: b.region_buildings(str(path), GRID, rid, constant_arrays(), census) for rid in GRID.all_region_ids}
    written = sorted(i for t in tables.values() for i in t.column("id").to_pylist())
    assert written == ["bowtie", "dup", "dup2", "ok1"]
    account = b.region_account(tables["y0_x0"].schema)
    assert account["dropped"] == {
        "null_id": 1,
        "null_geometry": 1,
        "unparseable_wkb": 1,
        "empty_geometry": 1,
        "nan_coordinates": 1,
        "duplicate_id": 1,
    }
    assert account["repaired_invalid"] == 1 and account["rows_owned"] == census["regions"]["y0_x0"]["rows"]
    assert b.region_account(tables["y0_x1"].schema)["dropped"]["duplicate_id"] == 1  # dup2's second shape
    # Too many drops for the limit: one message with the reasons and example ids.
    [message] = b.census_problems(str(path), GRID, list(GRID.all_region_ids), max_dropped_fraction=0.1)[0]
    assert "8 of 13 rows cannot be written" in message and "null_geometry 2" in message
    assert "buildings.max_dropped_fraction" in message


def test_a_wrong_covering_is_an_error(tmp_path: Path) -> None:
    key, wkb, _ = box_row("moved", -122.5, 37.5)
    path = raw_buildings(
        tmp_path / "b.parquet", [box_row("ok", -122.4, 37.4), (key, wkb, (-121.0, 38.0, -120.9, 38.1))]
    )
    [message] = b.census_problems(str(path), GRID, list(GRID.all_region_ids), max_dropped_fraction=1.0)[0]
    assert "for 1 rows the bbox covering does not contain the footprint's centroid" in message
    assert "['moved']" in message and "write_covering_bbox=True" in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda t, geo: (t.drop_columns(["geometry"]), geo), "names geometry column 'geometry', which the file lacks"),
        (lambda t, geo: (t, None), "it is not GeoParquet"),
        (lambda t, geo: (t.drop_columns(["id"]), geo), "no 'id' column"),
        (lambda t, geo: (t, {**geo, "columns": {"geometry": {"encoding": "WKB"}}}), "no bbox covering column"),
        (
            lambda t, geo: (t, {**geo, "columns": {"geometry": {**geo["columns"]["geometry"], "crs": "EPSG:5070"}}}),
            "not EPSG:4326",
        ),
    ],
)
def test_unusable_building_files_are_named_with_a_fix(tmp_path: Path, change, words: str) -> None:
    write_footprints(tmp_path / "good.parquet", [(-122.5, 37.5)])
    table = pq.read_table(tmp_path / "good.parquet")
    geo = json.loads(table.schema.metadata[b"geo"])
    table, geo = change(table, geo)
    pq.write_table(table.replace_schema_metadata({"geo": json.dumps(geo)} if geo else {}), tmp_path / "bad.parquet")
    [message] = b.census_problems(str(tmp_path / "bad.parquet"), GRID, [], 0.001)[0]
    assert message.startswith(f"inputs.buildings ({tmp_path / 'bad.parquet'}):") and words in message
    assert "Fix:" in message
