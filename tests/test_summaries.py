"""Regional summaries (windrisk.summaries): counts, exact percentiles, edges, no data; the demo run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import shapely

from windrisk.boundaries import Boundaries
from windrisk.buildings import building_table, write_building_file
from windrisk.paths import RunPaths
from windrisk.summaries import PERCENTILES, lower_median, summarise, summary_schema
from windrisk.variables import VARIABLES

OUTPUT_KEYS = ("county_summaries", "county_summaries_csv", "state_summaries", "state_summaries_csv")


def squares() -> tuple[Boundaries, Boundaries]:
    """Two unit squares side by side (west 01003, east 01001: the lower GEOID is east) in one state."""
    counties = Boundaries(
        "counties",
        {
            "GEOID": ["01001", "01003"],
            "NAME": ["East", "West"],
            "NAMELSAD": ["East County", "West County"],
            "STUSPS": ["AL", "AL"],
            "STATE_NAME": ["Alabama", "Alabama"],
        },
        np.array([shapely.box(1, 0, 2, 1), shapely.box(0, 0, 1, 1)]),
    )
    states = Boundaries(
        "states", {"GEOID": ["01"], "NAME": ["Alabama"], "STUSPS": ["AL"]}, np.array([shapely.box(0, 0, 2, 1)])
    )
    return counties, states


def outputs_in(root: Path) -> dict[str, str]:
    paths = RunPaths(str(root))
    return {key: getattr(paths, key) for key in (*OUTPUT_KEYS, "summaries_accounting")}


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[str, np.ndarray], dict[str, str]]:
    """Buildings: 600 inside the west square, 500 inside the east one, 7 on the shared edge (the
    east's: lower GEOID; no rps_2047 in the east), 3 on the outer west edge, 4 outside."""
    rng = np.random.default_rng(3)
    n_west, n_east = 600, 500
    x = np.concatenate(
        [rng.uniform(0.01, 0.99, n_west), rng.uniform(1.01, 1.99, n_east), np.ones(7), np.zeros(3), np.full(4, 5.0)]
    )
    y = np.concatenate([rng.uniform(0.01, 0.99, n_west + n_east), np.linspace(0, 1, 7), [0.2, 0.5, 0.8], np.ones(4)])
    n = len(x)
    values = {name: rng.uniform(0, 2, n).astype(np.float32) for name in VARIABLES}
    values["rps_2011"] = (10.0 ** rng.uniform(-3, 0.7, n)).astype(np.float32)
    values["rps_2011"][rng.random(n) < 0.1] = np.nan
    values["rps_2047"][n_west : n_west + n_east + 7] = np.nan
    owner = np.array(["west"] * n_west + ["east"] * n_east + ["east"] * 7 + ["west"] * 3 + ["none"] * 4)
    root = tmp_path_factory.mktemp("summaries")
    path = root / "buildings.parquet"
    write_building_file(building_table("y0_x0", np.arange(n).astype(str), x, y, values), path, 50)
    outputs = outputs_in(root)
    counties, states = squares()
    accounting = summarise(path, counties, states, outputs, rows=97)  # batches across row groups
    table = pq.read_table(path)  # the scores as the file holds them, in its (Hilbert) order
    order = table.column("id").to_numpy(zero_copy_only=False).astype(int)
    truth = {"owner": owner[order], **{c: table.column(c).to_numpy(zero_copy_only=False) for c in table.column_names}}
    return accounting, truth, outputs


def expected_row(truth: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, object]:
    row: dict[str, object] = {"n_buildings": int(mask.sum())}
    for run in ("2011", "2047"):
        rps = truth[f"rps_{run}"][mask].astype(np.float64)
        scores = truth[f"score_{run}"][mask]
        scored = scores[~np.isnan(scores)].astype(int)
        have = rps[~np.isnan(rps)]
        row[f"n_no_data_{run}"] = int(np.isnan(rps).sum())
        row[f"mean_rps_{run}"] = float(have.mean()) if have.size else None
        for q in PERCENTILES:
            row[f"p{q}_rps_{run}"] = float(np.percentile(have, q)) if have.size else None
        row[f"median_score_{run}"] = int(np.sort(scored)[(len(scored) - 1) // 2]) if scored.size else None
        for k in range(11):
            row[f"n_score_{k}_{run}"] = int((scored == k).sum())
    return row


def test_counties_hold_their_points_with_exact_statistics(hand_made: tuple) -> None:
    accounting, truth, outputs = hand_made
    rows = pq.read_table(outputs["county_summaries"]).to_pylist()
    assert [r["GEOID"] for r in rows] == ["01001", "01003"]
    assert [r["name"] for r in rows] == ["East County, AL", "West County, AL"]
    for row, owner in zip(rows, ("east", "west"), strict=True):
        expected = expected_row(truth, truth["owner"] == owner)
        got = {k: row[k] for k in expected}
        for key, value in expected.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-12, abs=0), key
            else:
                assert got[key] == value, key
    assert accounting == {
        "buildings": len(truth["owner"]),
        "in_counties": len(truth["owner"]) - 4,
        "outside_counties": 4,
        "counties": 2,
        "states": 1,
        "in_counties_of_no_state": 0,
    }


def test_a_county_without_any_value_has_nulls_not_zeros(hand_made: tuple) -> None:
    _, _, outputs = hand_made
    east, west = pq.read_table(outputs["county_summaries"]).to_pylist()
    assert east["n_no_data_2047"] == east["n_buildings"] == 507
    no_values = ("mean_rps_2047", *(f"p{q}_rps_2047" for q in PERCENTILES), "median_score_2047")
    assert [east[k] for k in no_values] == [None] * len(no_values)
    assert sum(east[f"n_score_{k}_2047"] for k in range(11)) == 0
    assert west["n_no_data_2047"] == 0 and None not in [west[k] for k in no_values]
    csv = pacsv.read_csv(outputs["county_summaries_csv"]).to_pylist()
    assert csv[0]["mean_rps_2047"] is None and csv[1]["mean_rps_2047"] == pytest.approx(west["mean_rps_2047"])


def test_the_state_is_the_union_of_its_counties_and_files_follow_the_contract(hand_made: tuple) -> None:
    _, truth, outputs = hand_made
    (state,) = pq.read_table(outputs["state_summaries"]).to_pylist()
    expected = expected_row(truth, truth["owner"] != "none")
    assert (state["GEOID"], state["name"], state["STUSPS"]) == ("01", "Alabama", "AL")
    for key, value in expected.items():
        assert state[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value), key
    parquet = pq.read_schema(outputs["county_summaries"])
    assert parquet.remove_metadata() == summary_schema()
    geo = json.loads(parquet.metadata[b"geo"])["columns"]["geometry"]
    assert geo["encoding"] == "WKB" and geo["crs"]["id"]["code"] == 4326
    assert shapely.from_wkb(pq.read_table(outputs["state_summaries"]).column("geometry")[0].as_py()).equals(
        shapely.box(0, 0, 2, 1)
    )
    csv = pacsv.read_csv(outputs["county_summaries_csv"])
    assert csv.column_names == summary_schema(with_geometry=False).names
    lon, lat = csv.column("lon").to_pylist(), csv.column("lat").to_pylist()
    assert 1 < lon[0] < 2 and 0 < lon[1] < 1 and all(0 < v < 1 for v in lat)


def test_the_lower_median_of_counts() -> None:
    assert lower_median(np.array([0, 0])) is None
    assert lower_median(np.array([1, 1])) == 0
    assert lower_median(np.array([2, 1])) == 0
    assert lower_median(np.array([1, 0, 2])) == 2
    rng = np.random.default_rng(0)
    for _ in range(50):
        values = rng.integers(0, 11, rng.integers(1, 40))
        assert lower_median(np.bincount(values, minlength=11)) == np.sort(values)[(len(values) - 1) // 2]


def test_the_demo_run_accounts_for_every_building(demo_run: Path) -> None:
    results = demo_run / "results"
    paths = RunPaths(str(results))
    accounting = json.loads(Path(paths.summaries_accounting).read_text())
    counties = pq.read_table(paths.county_summaries).to_pylist()
    states = pq.read_table(paths.state_summaries).to_pylist()
    total = pq.ParquetFile(paths.conus_buildings).metadata.num_rows
    assert sum(r["n_buildings"] for r in counties) + accounting["outside_counties"] == total
    assert accounting["buildings"] == total and accounting["in_counties_of_no_state"] == 0
    assert sum(r["n_buildings"] for r in states) == sum(r["n_buildings"] for r in counties)
    assert {r["name"] for r in counties} <= {
        "Marin County, CA",
        "Sonoma County, CA",
        "Napa County, CA",
        "Lake County, CA",
    }
    assert [r["name"] for r in states] == ["California"]
    assert all(r["n_buildings"] > 0 for r in counties)
