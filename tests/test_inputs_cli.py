"""``windrisk inputs`` and the catalogue behind it (windrisk.sources): every input of both configs
has an entry, the command tells present from missing (exit 0 / 1 / 2), prints the steps for a
missing input's location, its JSON parses, docs/inputs.md holds every entry, and the documented
GeoParquet 1.1 step and CONUS404 copy (run on local stand-ins) make files windrisk accepts."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
import xarray as xr
import yaml
from conftest import CONUS_CONFIG, DEMO_CONFIG, REPO

from windrisk import buildings, cli, conus404, fireweather, inputs_cli, sources
from windrisk.config import load_config, schema
from windrisk.inputs import SPECS

CONFIG_KEYS = [
    "burn_probability.2011",
    "burn_probability.2047",
    "crps",
    "rps",
    "wind.hourly",
    "buildings",
    "boundaries.states",
    "boundaries.counties",
]


def windrisk_inputs(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """``windrisk inputs <args>`` as a user runs it: a fresh interpreter through the dispatcher."""
    cmd = [sys.executable, "-m", "windrisk.cli", "inputs", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


# ---- the catalogue --------------------------------------------------------------------------
@pytest.mark.parametrize("configfile", [DEMO_CONFIG, CONUS_CONFIG], ids=["demo", "conus"])
def test_every_input_location_of_the_config_has_a_catalogue_entry(configfile: Path) -> None:
    inputs = load_config(configfile)["inputs"]
    assert sources.location_keys(inputs) == CONFIG_KEYS  # parameters (wind_speed_unit) are not inputs
    assert sources.uncatalogued(inputs) == []


def test_every_checked_input_has_a_catalogue_entry() -> None:
    assert {spec.key for spec in SPECS} <= set(sources.SOURCE_BY_KEY)


def test_an_input_added_without_a_catalogue_entry_is_caught_and_catalogue_only_entries_are_not() -> None:
    # The boundaries entries are in the catalogue before any config names them: no failure. A new
    # location key in the schema and config without an entry is named.
    node = schema()["properties"]["inputs"]
    node = {**node, "properties": {**node["properties"], "fires": {"$ref": "#/$defs/location"}}}
    inputs = {**load_config(DEMO_CONFIG)["inputs"], "fires": "resources/fires.parquet"}
    assert sources.uncatalogued(inputs, node) == ["fires"]
    assert {"boundaries.states", "boundaries.counties"} <= set(sources.SOURCE_BY_KEY)


@pytest.mark.parametrize("source", sources.SOURCES, ids=lambda s: s.key)
def test_each_entry_is_complete_and_its_steps_end_where_the_config_points(source: sources.Source) -> None:
    for name in ("product", "licence", "crs", "units", "nodata"):
        assert getattr(source, name).strip(), name
    assert source.published_at and source.files and source.prepare and source.citation.doi
    for location in ("/data/in/file.tif", "s3://bucket/in/file.tif"):
        steps = source.steps(location)
        assert location in steps[-1] and not any(sources.DEST in s or s.startswith(sources.PUT) for s in steps)


def test_the_last_step_puts_the_file_by_the_locations_scheme() -> None:
    assert sources.placement("BP.tif", "s3://b/k/BP.tif").startswith("aws s3 cp BP.tif s3://b/k/BP.tif")
    assert sources.placement("BP.tif", "/data/riley/BP.tif") == "mkdir -p /data/riley && mv BP.tif /data/riley/BP.tif"
    assert sources.placement("BP.tif", "BP_2011.tif") == "mv BP.tif BP_2011.tif"


def test_facts_not_confirmed_are_marked() -> None:
    # The Riley DOI and licence were not confirmed against the USFS page; the Scott DOI was.
    riley = sources.SOURCE_BY_KEY["burn_probability.2011"]
    assert sources.UNVERIFIED in riley.citation.doi and "licence" in riley.unverified()
    assert sources.SOURCE_BY_KEY["crps"].citation.doi == "10.2737/RDS-2020-0016-2"


def test_docs_hold_every_entry_as_the_command_prints_it_for_the_conus_config() -> None:
    docs = (REPO / "docs" / "inputs.md").read_text()
    conus = load_config(CONUS_CONFIG)["inputs"]
    stale = [s.key for s in sources.SOURCES if sources.markdown(s, sources.location_of(conus, s.key)) not in docs]
    assert stale == [], "regenerate: windrisk inputs --configfile config/conus.yaml --markdown"


# ---- the command ----------------------------------------------------------------------------
def config_copy(tmp_path: Path, *, demo: bool) -> tuple[Path, dict[str, str]]:
    """The demo config with every input under ``tmp_path/inputs`` (absolute); ``demo`` keeps the
    demo section with its ``dir`` there too, so the inputs are the demo rule's to make."""
    cfg = yaml.safe_load(DEMO_CONFIG.read_text())
    root = tmp_path / "inputs"
    where = {
        "burn_probability.2011": root / "riley2025/BP_2011ClimateRun.tif",
        "burn_probability.2047": root / "riley2025/BP_2047ClimateRun.tif",
        "crps": root / "scott2024/CRPS.tif",
        "rps": root / "scott2024/RPS.tif",
        "wind.hourly": root / "conus404/hourly_surface.zarr",
        "buildings": root / "overture/buildings.parquet",
        "boundaries.states": root / "census/cb_2023_us_state_500k.zip",
        "boundaries.counties": root / "census/cb_2023_us_county_500k.zip",
    }
    cfg["inputs"]["burn_probability"] = {run: str(where[f"burn_probability.{run}"]) for run in ("2011", "2047")}
    cfg["inputs"].update(crps=str(where["crps"]), rps=str(where["rps"]), buildings=str(where["buildings"]))
    cfg["inputs"]["wind"]["hourly"] = str(where["wind.hourly"])
    cfg["inputs"]["boundaries"] = {kind: str(where[f"boundaries.{kind}"]) for kind in ("states", "counties")}
    if demo:
        cfg["demo"]["dir"] = str(root)
    else:
        del cfg["demo"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, {key: str(p) for key, p in where.items()}


def make_inputs(where: dict[str, str]) -> None:
    """Real files at every location: presence is what the command reports (check_inputs reads them)."""
    for key, location in where.items():
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        if key == "wind.hourly":
            ds = xr.Dataset(
                {v: (("time", "y", "x"), np.zeros((2, 2, 2), np.float32)) for v in ("T2", "TD2", "U10", "V10")}
            )
            ds.to_zarr(location, zarr_format=3, consolidated=False)
        else:
            Path(location).write_bytes(b"\0" * 64)


def states_of(proc: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {m[0]: m[1] for m in re.findall(r"^inputs\.(\S+): (.+)$", proc.stdout, flags=re.MULTILINE)}


def test_missing_inputs_exit_1_each_with_the_steps_for_its_location(tmp_path: Path) -> None:
    configfile, where = config_copy(tmp_path, demo=False)
    proc = windrisk_inputs("--configfile", str(configfile))
    assert proc.returncode == 1, proc.stderr
    assert states_of(proc) == dict.fromkeys(CONFIG_KEYS, "missing")
    assert f"mkdir -p {Path(where['crps']).parent} && mv CRPS.tif {where['crps']}" in proc.stdout
    assert f'ds.to_zarr("{where["wind.hourly"]}"' in proc.stdout
    assert "not set in this config: inputs.wind.distribution\n" in proc.stdout
    assert proc.stdout.rstrip().endswith(f"0 present; 0 made by the workflow; {len(CONFIG_KEYS)} missing")


def test_present_inputs_exit_0(tmp_path: Path) -> None:
    configfile, where = config_copy(tmp_path, demo=False)
    make_inputs(where)
    proc = windrisk_inputs("--configfile", str(configfile))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert states_of(proc) == dict.fromkeys(CONFIG_KEYS, "present")
    assert "prepare:" not in proc.stdout and "zarr_metadata_sha256" in proc.stdout


def test_one_missing_input_is_named_alone(tmp_path: Path) -> None:
    configfile, where = config_copy(tmp_path, demo=False)
    make_inputs(where)
    Path(where["rps"]).unlink()
    proc = windrisk_inputs("--configfile", str(configfile))
    assert proc.returncode == 1
    assert [k for k, v in states_of(proc).items() if v != "present"] == ["rps"]


def test_demo_inputs_not_made_yet_are_the_workflows_to_make(tmp_path: Path) -> None:
    configfile, _ = config_copy(tmp_path, demo=True)
    proc = windrisk_inputs("--configfile", str(configfile))
    assert proc.returncode == 0, proc.stdout
    assert states_of(proc) == dict.fromkeys(CONFIG_KEYS, "made by the workflow")
    assert "synthetic stand-in (demo) for Riley et al. 2025" in proc.stdout


def test_json_parses_and_holds_the_steps_of_missing_inputs(tmp_path: Path) -> None:
    configfile, where = config_copy(tmp_path, demo=False)
    make_inputs({k: v for k, v in where.items() if k != "buildings"})
    proc = windrisk_inputs("--configfile", str(configfile), "--json")
    assert proc.returncode == 1
    report: dict[str, Any] = json.loads(proc.stdout)
    by_key = {entry["key"]: entry for entry in report["inputs"]}
    assert by_key["inputs.buildings"]["status"] == "missing"
    assert by_key["inputs.buildings"]["prepare"][-1].endswith(f"mv buildings_conus.parquet {where['buildings']}")
    assert by_key["inputs.crps"]["status"] == "present" and "prepare" not in by_key["inputs.crps"]
    assert by_key["inputs.boundaries.states"]["status"] == "present"
    assert by_key["inputs.wind.distribution"]["status"] == "not set"
    assert by_key["inputs.crps"]["source"]["citation"].endswith("DOI 10.2737/RDS-2020-0016-2")


def test_config_errors_exit_2(tmp_path: Path) -> None:
    proc = windrisk_inputs("--configfile", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr and proc.stdout == ""
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO_CONFIG.read_text().replace("  crps:", "  crsp:"))
    proc = windrisk_inputs("--configfile", str(bad))
    assert proc.returncode == 2 and "crsp" in proc.stderr


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        inputs_cli.main(["--json", "--markdown"])
    assert exc.value.code == 2
    assert "inputs" in cli.COMMANDS and "inputs" in cli.usage()


# ---- the documented preparation -------------------------------------------------------------
def heredoc(step: str) -> str:
    """The Python of a ``python - <<'EOF' ... EOF`` step."""
    body = step.split("<<'EOF'\n", 1)[1]
    return body.rsplit("\nEOF", 1)[0]


def test_the_geoparquet_step_makes_a_buildings_file_windrisk_accepts(tmp_path: Path) -> None:
    # The rows as the DuckDB step writes them: id, WKB geometry, Overture's float32 bbox struct.
    polygons = [shapely.box(-122.9 + i * 0.01, 38.0, -122.895 + i * 0.01, 38.005) for i in range(250)]
    bounds = np.array([p.bounds for p in polygons], np.float32)
    bbox = pa.StructArray.from_arrays([pa.array(bounds[:, i]) for i in range(4)], ["xmin", "ymin", "xmax", "ymax"])
    raw = pa.table({"id": [f"b{i}" for i in range(250)], "geometry": shapely.to_wkb(polygons), "bbox": bbox})
    pq.write_table(raw, tmp_path / "buildings_raw.parquet", row_group_size=100)
    step = next(s for s in sources.OVERTURE.prepare if "buildings_conus.parquet" in s and "<<'EOF'" in s)
    subprocess.run([sys.executable, "-c", heredoc(step)], cwd=tmp_path, check=True, timeout=120)
    out = tmp_path / "buildings_conus.parquet"
    columns, problems = buildings.schema_problems(pq.read_schema(out), str(out))
    assert problems == [] and columns is not None and columns.covering == "bbox"
    assert pq.read_table(out).equals(pq.read_table(tmp_path / "buildings_raw.parquet"))


def test_the_conus404_copy_makes_an_hourly_store_windrisk_reads(tmp_path: Path) -> None:
    # The documented copy, run against a CONUS404-like local store (Lambert `crs`, SINALPHA with a
    # time dimension, as some copies hold it) instead of the OSN one: windrisk must read the result.
    x, y = conus404.pixel_centres(slice(500, 506), slice(200, 205))
    rng = np.random.default_rng(0)
    fields = {v: rng.normal(280, 5, (30, 6, 5)).astype(np.float32) for v in conus404.VARIABLES}
    source = tmp_path / "conus404_hourly.zarr"
    conus404.write_hourly_store(source, x, y, 30, lambda h0, h1: {k: a[h0:h1] for k, a in fields.items()})
    with_time = xr.open_zarr(source, consolidated=False).load()
    with_time["SINALPHA"] = with_time["SINALPHA"].expand_dims(time=with_time["time"])
    with_time.drop_encoding().to_zarr(tmp_path / "source.zarr", zarr_format=3, consolidated=False)
    code = re.sub(
        r"xr\.open_zarr\(.*?\}\}\)",
        f'xr.open_zarr("{tmp_path / "source.zarr"}", consolidated=False)',
        heredoc(sources.HOURLY_COPY).replace(sources.DEST, str(tmp_path / "hourly.zarr")),
        count=1,
        flags=re.DOTALL,
    )
    assert sources.CONUS404_ZARR not in code  # the source was swapped
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=120)
    copied = fireweather.open_hourly(str(tmp_path / "hourly.zarr"))
    crs_wkt, _ = fireweather.hourly_frame(copied, str(tmp_path / "hourly.zarr"))
    assert "Lambert" in crs_wkt and copied["SINALPHA"].dims == ("y", "x")
    np.testing.assert_array_equal(copied["T2"].values, fields["T2"])
