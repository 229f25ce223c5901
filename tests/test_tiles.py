"""PMTiles: header, layer, low zooms not empty, every building at max zoom; the demo run."""

from __future__ import annotations

import gzip
import itertools
from collections import Counter
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from pmtiles.reader import MmapSource, Reader, all_tiles

from windrisk import buildings as b
from windrisk import tiles as t
from windrisk.settings import Settings, TilesSettings

TILES = TilesSettings(layer="bldg", min_zoom=0, max_zoom=12)


def read_archive(path: Path) -> tuple[dict, dict, dict[int, list[dict]]]:
    """Header, metadata and the decoded features of the layer per zoom."""
    per_zoom: dict[int, list[dict]] = {}
    with path.open("rb") as f:
        reader = Reader(MmapSource(f))
        header, meta = reader.header(), reader.metadata()
        for (z, _, _), data in all_tiles(MmapSource(f)):
            layers = mapbox_vector_tile.decode(gzip.decompress(data))
            per_zoom.setdefault(z, []).extend(f for layer in layers.values() for f in layer["features"])
            assert set(layers) <= {meta["vector_layers"][0]["id"]}
    return header, meta, per_zoom


def conus_file(path: Path, n: int = 3000) -> pa.Table:
    """Three towns far apart plus scattered points, as a CONUS building file."""
    rng = np.random.default_rng(5)
    centres = np.array([(-122.3, 37.8), (-87.6, 41.9), (-74.0, 40.7)])
    town = rng.integers(0, 4, n)
    x = np.where(town < 3, centres[town % 3, 0] + rng.normal(0, 0.02, n), rng.uniform(-124, -67, n))
    y = np.where(town < 3, centres[town % 3, 1] + rng.normal(0, 0.02, n), rng.uniform(25, 49, n))
    values = {name: rng.lognormal(-3, 2, n).astype(np.float32) for name in b.VARIABLES}
    values["rps_2011"][:10] = np.nan
    table = b.building_table("y0_x0", np.array([f"b{i}" for i in range(n)], dtype=object), x, y, values)
    b.write_building_file(table, path, 500)
    return table


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, t.TilePlan, Path]:
    folder = tmp_path_factory.mktemp("tiles")
    table = conus_file(folder / "conus.parquet")
    plan = t.build_pmtiles(folder / "conus.parquet", folder / "out.pmtiles", TILES, max_partition_rows=700)
    return table, plan, folder / "out.pmtiles"


@pytest.fixture(scope="module")
def archive(built: tuple[pa.Table, t.TilePlan, Path]) -> tuple[dict, dict, dict[int, list[dict]]]:
    return read_archive(built[2])


def test_header_layer_and_zooms(built: tuple[pa.Table, t.TilePlan, Path], archive: tuple) -> None:
    table, plan, _ = built
    header, meta, per_zoom = archive
    assert plan.n_partitions > 1  # the partitioned path is exercised
    assert (header["min_zoom"], header["max_zoom"]) == (0, 12)
    assert sorted(per_zoom) == list(range(13))
    assert meta["vector_layers"][0]["id"] == "bldg"
    x0, _y0, _x1, y1 = b.bbox_of(table)
    assert header["min_lon_e7"] <= x0 * 1e7 < header["min_lon_e7"] + 1
    assert header["max_lat_e7"] - 1 < y1 * 1e7 <= header["max_lat_e7"]
    assert header["tile_type"].name == "MVT" and header["tile_compression"].name == "GZIP"


def test_every_building_at_max_zoom_once_and_low_zooms_not_empty(built: tuple, archive: tuple) -> None:
    table, per_zoom = built[0], archive[2]
    ids = {f["properties"]["id"] for f in per_zoom[12]}
    assert ids == set(table.column("id").to_pylist())
    counts = [len({f["properties"]["id"] for f in per_zoom[z]}) for z in range(13)]
    assert counts[0] >= 500 and all(a <= b_ + 50 for a, b_ in itertools.pairwise(counts)), counts


def test_attributes_are_the_map_fields_rounded(built: tuple, archive: tuple) -> None:
    table, per_zoom = built[0], archive[2]
    feats = {f["properties"]["id"]: f["properties"] for f in per_zoom[12]}
    rows = table.select(list(t.TILE_FIELDS)).to_pylist()
    for row in rows[:200]:
        got = feats[row["id"]]
        assert set(got) <= set(t.TILE_FIELDS)
        for name in t.ROUNDED:
            if row[name] is None:
                assert name not in got
            else:
                assert got[name] == pytest.approx(row[name], rel=6e-3)
        assert got["score_2011"] == row["score_2011"] or row["score_2011"] is None


def test_low_max_zoom_needs_no_partitions(tmp_path: Path) -> None:
    table = conus_file(tmp_path / "conus.parquet", n=800)
    plan = t.build_pmtiles(
        tmp_path / "conus.parquet", tmp_path / "out.pmtiles", TilesSettings(layer="a", min_zoom=2, max_zoom=6)
    )
    header, _, per_zoom = read_archive(tmp_path / "out.pmtiles")
    assert plan.n_partitions == 0 and (header["min_zoom"], header["max_zoom"]) == (2, 6)
    assert len({f["properties"]["id"] for f in per_zoom[6]}) == table.num_rows


def test_empty_input_is_an_error_naming_the_file(tmp_path: Path) -> None:
    b.write_building_file(b.SCHEMA.empty_table(), tmp_path / "conus.parquet", 10)
    with pytest.raises(ValueError, match="conus.parquet holds no buildings"):
        t.build_pmtiles(tmp_path / "conus.parquet", tmp_path / "out.pmtiles", TILES)
    assert not (tmp_path / "out.pmtiles").exists()


def test_helpers() -> None:
    assert t.drop_rate_for(1000, 14) is None and t.drop_rate_for(10**6, 0) is None
    assert t.drop_rate_for(5_000 * 2**14, 14) == pytest.approx(2.0)
    assert t.drop_rate_for(10**12, 14) == t.MAX_DROP_RATE
    rounded = t.round_significant(pa.array([0.012345, 123456.0, 0.0, None], pa.float32())).to_pylist()
    assert rounded[:3] == pytest.approx([0.0123, 123000.0, 0.0], rel=1e-6) and rounded[3] is None
    pts = shapely.from_wkb(
        t.wkb_points(np.array([1.5, -122.25]), np.array([2.5, 37.75])).to_numpy(zero_copy_only=False)
    )
    assert shapely.equals(pts, shapely.points([(1.5, 2.5), (-122.25, 37.75)])).all()
    assert t.sample_mask(0, 1000, 7.5).sum() == 134 and t.sample_mask(0, 3, 1.0).all()
    x, y = t.tile_xy(np.array([-180.0, 0.0, 179.9999]), np.array([85.0, 0.0, -85.0]), 1)
    assert x.tolist() == [0, 1, 1] and y.tolist() == [0, 1, 1]


# ---- the demo run ---------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_pmtiles(demo_run: Path, demo_cfg: Settings) -> None:
    results = Path(demo_cfg.results)
    conus = pq.read_table(results / "conus" / "buildings.parquet", columns=["id", "geometry"])
    header, meta, per_zoom = read_archive(results / "tiles" / "buildings.pmtiles")
    tiles_cfg = demo_cfg.tiles
    assert (header["min_zoom"], header["max_zoom"]) == (tiles_cfg.min_zoom, tiles_cfg.max_zoom)
    assert meta["vector_layers"][0]["id"] == tiles_cfg.layer
    x0, y0, x1, y1 = b.bbox_of(conus)
    assert header["min_lon_e7"] <= x0 * 1e7 <= x1 * 1e7 <= header["max_lon_e7"]
    assert header["min_lat_e7"] <= y0 * 1e7 <= y1 * 1e7 <= header["max_lat_e7"]
    top = per_zoom[tiles_cfg.max_zoom]
    assert set(top[0]["properties"]) <= set(t.TILE_FIELDS) and "id" in top[0]["properties"]
    ids = Counter(f["properties"]["id"] for f in top)
    assert set(ids) == set(conus.column("id").to_pylist())
    assert len(per_zoom[tiles_cfg.min_zoom]) > 0
