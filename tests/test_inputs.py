"""windrisk.inputs: identities of local and remote inputs, and the up-front checks of every kind
of bad raster, hourly store and buildings file, each named with its key and its fix."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from affine import Affine
from conftest import demo_settings, write_tif

from windrisk import inputs
from windrisk.grid import RegionGrid
from windrisk.rasters import InputError

F32_NODATA = -3.4028234663852886e38
# A small EPSG:4326 grid near Point Reyes; its rasters are in EPSG:5070 like the USFS products.
GRID = RegionGrid("EPSG:4326", Affine(0.001, 0, -122.9, 0, 0.001, 38.0), (40, 60), (20, 30))
ALBERS = Affine(270.0, 0, -2_314_000.0, 0, -270.0, 2_002_000.0)  # 60 x 60 px cover the grid
SPEC = inputs.SPEC_BY_KEY


def albers_tif(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:5070",
    nodata: float | None = F32_NODATA,
    transform: Affine = ALBERS,
) -> Path:
    return write_tif(path, data, crs, transform, nodata)


def bp_values(shape: tuple[int, int] = (60, 60)) -> np.ndarray:
    return np.linspace(0.0, 0.05, shape[0] * shape[1], dtype=np.float32).reshape(shape)


def problems(path: Path, key: str = "burn_probability.2011") -> list[str]:
    return inputs.raster_problems(SPEC[key], str(path), GRID, scan=True)[0]


# ---- identity ---------------------------------------------------------------------------------
def test_local_identity_is_content_not_place(tmp_path: Path) -> None:
    a = albers_tif(tmp_path / "a.tif", bp_values())
    copy = tmp_path / "elsewhere" / "copy.tif"
    copy.parent.mkdir()
    shutil.copyfile(a, copy)  # new path, new mtime, same bytes
    cache = inputs.HashCache(tmp_path / "cache.json")
    assert inputs.identity(str(a), cache) == inputs.identity(str(copy), cache)
    cache.save()
    assert len(json.loads((tmp_path / "cache.json").read_text())) == 2
    with copy.open("ab") as f:
        f.write(b"\0")
    assert inputs.identity(str(copy), cache) != inputs.identity(str(a), cache)
    assert "location" not in inputs.identity(str(a))


def test_cache_is_keyed_by_stat(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    cache = inputs.HashCache(tmp_path / "cache.json")
    first = cache.sha256(path)
    key = str(path.resolve())
    cache.entries[key]["sha256"] = "remembered"  # a hit must not re-read the file
    assert cache.sha256(path) == "remembered"
    path.write_bytes(b"abcd")  # size and mtime change: read again
    assert cache.sha256(path) not in ("remembered", first)


def test_zarr_identity_is_its_metadata(tmp_path: Path) -> None:
    ds = xr.Dataset({"T2": (("time", "y", "x"), np.zeros((2, 3, 4), np.float32))})
    ds.to_zarr(tmp_path / "a.zarr", zarr_format=3, consolidated=False)
    shutil.copytree(tmp_path / "a.zarr", tmp_path / "b.zarr")
    a, b = (inputs.identity(str(tmp_path / n)) for n in ("a.zarr", "b.zarr"))
    assert a == b and set(a) == {"zarr_metadata_sha256"}
    ds.assign_attrs(version="2").to_zarr(tmp_path / "b.zarr", zarr_format=3, consolidated=False, mode="w")
    assert inputs.identity(str(tmp_path / "b.zarr")) != a
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="not a Zarr store"):
        inputs.identity(str(tmp_path / "plain"))


def test_http_identity_and_unreachable(tmp_path: Path) -> None:
    (tmp_path / "f.tif").write_bytes(b"x" * 123)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ident = inputs.identity(f"http://127.0.0.1:{server.server_address[1]}/f.tif")
        assert ident["size"] == 123 and "last_modified" in ident
    finally:
        server.shutdown()
        server.server_close()  # the port now refuses connections
        thread.join()
    with pytest.raises(InputError, match="HEAD request failed"):
        inputs.identity(f"http://127.0.0.1:{server.server_address[1]}/f.tif")


def test_s3_identity_of_objects_and_zarr_prefixes(tmp_path: Path, s3_client: Any) -> None:
    s3_client.create_bucket(Bucket="inputs")
    tif = albers_tif(tmp_path / "bp.tif", bp_values())
    s3_client.upload_file(str(tif), "inputs", "bp.tif")
    ident = inputs.identity("s3://inputs/bp.tif")
    assert ident["size"] == tif.stat().st_size and len(ident["etag"]) == 32
    s3_client.upload_file(str(tif), "inputs", "moved/bp.tif")
    assert inputs.identity("s3://inputs/moved/bp.tif") == ident
    xr.Dataset({"T2": (("time", "y", "x"), np.zeros((2, 3, 4), np.float32))}).to_zarr(
        tmp_path / "h.zarr", zarr_format=3, consolidated=False
    )
    for file in (tmp_path / "h.zarr").rglob("*"):
        if file.is_file():
            s3_client.upload_file(str(file), "inputs", f"h.zarr/{file.relative_to(tmp_path / 'h.zarr')}")
    assert inputs.identity("s3://inputs/h.zarr") == inputs.identity(str(tmp_path / "h.zarr"))
    with pytest.raises(InputError, match="not a Zarr store"):
        inputs.identity("s3://inputs/nothing-here")


def test_plan_names_missing_local_inputs_and_leaves_unreachable_remote_ones_unresolved(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    bp = str(albers_tif(tmp_path / "bp.tif", bp_values()))
    section = {
        "burn_probability": {"2011": bp, "2047": "s3://b/BP_2047.tif"},
        "crps": str(tmp_path / "typo" / "CRPS.tif"),
        "rps": "made/RPS.tif",
        "wind": {"distribution": bp},
        "buildings": "s3://b/buildings.parquet",
    }
    with pytest.raises(inputs.InputCheckError) as info:
        inputs.plan_identities(demo_settings(inputs=section), {"made/RPS.tif": "demo_inputs"}, None)
    assert [p.split(":")[0] for p in info.value.problems] == ["inputs.crps (" + section["crps"] + ")"]
    assert "does not exist" in str(info.value) and "Fix:" in str(info.value)
    section["crps"] = bp
    planned = inputs.plan_identities(demo_settings(inputs=section), {"made/RPS.tif": "demo_inputs"}, None)
    rasters = planned["rasters"]
    assert rasters.identities["rps"] == {"produced_by": "demo_inputs"} and rasters.produced == ["rps"]
    assert rasters.unresolved == ["burn_probability.2047"]
    assert planned["buildings"].unresolved == ["buildings"]
    assert rasters.digest == inputs.digest_of(dict(reversed(list(rasters.identities.items()))))


# ---- rasters --------------------------------------------------------------------------------------
def test_a_good_raster_passes_with_a_summary(tmp_path: Path) -> None:
    found, summary = inputs.raster_problems(
        SPEC["burn_probability.2011"], str(albers_tif(tmp_path / "bp.tif", bp_values())), GRID, scan=True
    )
    assert found == [] and summary["crs"] == "EPSG:5070" and summary["max"] == pytest.approx(0.05)


def test_truncated_raster(tmp_path: Path) -> None:
    good = albers_tif(tmp_path / "bp.tif", bp_values((400, 400)))
    cut = tmp_path / "cut.tif"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    [message] = problems(cut)
    assert message.startswith(f"inputs.burn_probability.2011 ({cut}):") and "Fix:" in message


def test_no_crs_names_the_gdal_fix(tmp_path: Path) -> None:
    [message] = problems(albers_tif(tmp_path / "bp.tif", bp_values(), crs=None))
    assert "has no CRS" in message and "gdal_edit.py -a_srs EPSG:5070" in message


def test_wrong_crs_tags_are_named(tmp_path: Path) -> None:
    [degrees] = problems(albers_tif(tmp_path / "deg.tif", bp_values(), crs="EPSG:4326"))
    assert "EPSG:4326 is in degrees" in degrees and "look like metres" in degrees and "gdal_edit.py -a_srs" in degrees
    [utm] = problems(albers_tif(tmp_path / "utm.tif", bp_values(), crs="EPSG:32633"))
    assert "in its CRS EPSG:32633 it covers" in utm and "do not overlap" in utm


def test_values_out_of_range(tmp_path: Path) -> None:
    data = bp_values()
    data[10:20, 10:20] = 5.0
    data[30, 30] = -0.5
    [message] = problems(albers_tif(tmp_path / "bp.tif", data))
    assert "101 of 3,600 values lie outside [0, 1]" in message and "max 5" in message and "min -0.5" in message
    crps = np.full((60, 60), 42.0, np.float32)
    assert problems(albers_tif(tmp_path / "crps.tif", crps), "crps") == []  # % is fine for CRPS


def test_nodata_inside_the_valid_range_and_wrong_types(tmp_path: Path) -> None:
    [nodata] = problems(albers_tif(tmp_path / "zero.tif", bp_values(), nodata=0.0))
    assert "nodata value 0 lies inside the valid range" in nodata and "gdal_edit.py -a_nodata" in nodata
    scaled = (bp_values() * 2000).astype(np.uint8)  # e.g. BP stored scaled by 2000 as bytes
    [scale] = problems(albers_tif(tmp_path / "u8.tif", scaled, nodata=255))
    assert "outside [0, 1]" in scale
    complex_data = bp_values().astype(np.complex64)
    found = problems(albers_tif(tmp_path / "c.tif", complex_data, nodata=None))
    assert any("is not a real number" in p for p in found)


def test_empty_raster_and_band_count(tmp_path: Path) -> None:
    [empty] = problems(albers_tif(tmp_path / "nan.tif", np.full((60, 60), F32_NODATA, np.float32)))
    assert "holds no valid value" in empty
    [bands] = problems(albers_tif(tmp_path / "one.tif", bp_values()), "wind.distribution")
    assert "1 band(s)" in bands and "needs 8" in bands


def test_distribution_fractions_must_sum_to_one(tmp_path: Path) -> None:
    dist = np.full((8, 60, 60), 1 / 8, np.float32)
    dist[:, :5] = np.nan  # pixels without fire-weather hours are fine
    assert problems(albers_tif(tmp_path / "ok.tif", dist, nodata=None), "wind.distribution") == []
    dist[0, 40] = 0.9
    [message] = problems(albers_tif(tmp_path / "bad.tif", dist, nodata=None), "wind.distribution")
    assert "60 pixels have band fractions that do not sum to 1" in message


def test_remote_rasters_are_checked_by_header_only(tmp_path: Path) -> None:
    data = bp_values()
    data[0, 0] = 7.0
    path = albers_tif(tmp_path / "bp.tif", data)
    assert inputs.raster_problems(SPEC["burn_probability.2011"], str(path), GRID, scan=False)[0] == []
    assert inputs.values_problem("burn_probability.2011", "s3://b/bp.tif", data) is not None


# ---- hourly ----------------------------------------------------------------------------------------
def test_hourly_store_problems(tmp_path: Path) -> None:
    spec = SPEC["wind.hourly"]
    [missing] = inputs.hourly_problems(spec, str(tmp_path / "nothing.zarr"), GRID)[0]
    assert missing.startswith("inputs.wind.hourly") and "Fix:" in missing
    ds = xr.Dataset({"T2": (("time", "y", "x"), np.zeros((2, 3, 4), np.float32))})
    ds.to_zarr(tmp_path / "t2.zarr", zarr_format=3, consolidated=False)
    [lacks] = inputs.hourly_problems(spec, str(tmp_path / "t2.zarr"), GRID)[0]
    assert "lacks ['TD2', 'U10', 'V10']" in lacks


def test_check_group_reports_every_problem_at_once(tmp_path: Path) -> None:
    good = str(albers_tif(tmp_path / "good.tif", bp_values()))
    no_crs = str(albers_tif(tmp_path / "nocrs.tif", bp_values(), crs=None))
    config = demo_settings(
        inputs={
            "burn_probability": {"2011": no_crs, "2047": good},
            "crps": good,
            "rps": str(tmp_path / "gone.tif"),
            "wind": {"hourly": "x"},
            "buildings": "x",
        }
    )
    planned = {
        "burn_probability.2011": inputs.identity(no_crs),
        "burn_probability.2047": inputs.identity(good),
        "crps": {"sha256": "an older file"},
        "rps": {},
    }
    with pytest.raises(inputs.InputCheckError) as info:
        inputs.check_group(config, "rasters", planned, GRID, list(GRID.all_region_ids))
    text = str(info.value)
    assert text.startswith("3 input problem(s)")
    assert "inputs.burn_probability.2011" in text and "has no CRS" in text
    assert "inputs.crps" in text and "changed after the run was planned" in text
    assert "inputs.rps" in text and "does not exist" in text
