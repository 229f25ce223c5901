"""``windrisk regions``: the data regions a lon/lat box, a state or a county touches, on the demo and CONUS grids;
the Census boundary files (windrisk.boundaries) and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from conftest import CONUS_CONFIG, DEMO_CONFIG, REPO
from pyproj import Transformer

from windrisk import cli, usatlas
from windrisk.aoi import (
    AreaError,
    chunks_touched,
    find_county,
    find_state,
    parse_bbox,
    regions_in_area,
    regions_in_bbox,
)
from windrisk.boundaries import (
    COLUMNS,
    Boundaries,
    BoundaryError,
    load_boundaries,
    read_boundaries,
    write_shapefile_zip,
)
from windrisk.demo import census_columns, write_boundaries
from windrisk.grid import RegionGrid
from windrisk.settings import Settings, load_settings, selected_region_ids

DEMO = load_settings(DEMO_CONFIG)
CONUS = load_settings(CONUS_CONFIG)


def inside(bounds: tuple[float, float, float, float], margin: float) -> tuple[float, float, float, float]:
    west, south, east, north = bounds
    return west + margin, south + margin, east - margin, north - margin


def test_a_box_inside_one_region_gives_that_region_and_one_across_a_seam_gives_both() -> None:
    grid = DEMO.region_grid()  # EPSG:4326: a region's bounds are already lon/lat
    assert regions_in_bbox(DEMO, grid, inside(grid.region_bounds("y1_x2"), 1e-4)) == ["y1_x2"]
    w, s, _, n = inside(grid.region_bounds("y1_x1"), 1e-4)
    _, _, e, _ = inside(grid.region_bounds("y1_x2"), 1e-4)
    assert regions_in_bbox(DEMO, grid, (w, s, e, n)) == ["y1_x1", "y1_x2"]
    whole = inside(grid.window_bounds(grid.full_window), 1e-4)
    assert regions_in_bbox(DEMO, grid, whole) == list(grid.all_region_ids)  # demo: data_regions 'all'


def test_on_the_albers_grid_a_town_lands_in_the_region_that_owns_it() -> None:
    grid = CONUS.region_grid()
    lon, lat = -105.27, 40.01  # Boulder, Colorado
    x, y = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True).transform(lon, lat)
    owner = str(grid.region_of_points(np.array([x]), np.array([y]))[0])
    found = regions_in_bbox(CONUS, grid, (lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01), base_dir=REPO)
    assert found == [owner]
    # A box over the whole state reaches further and keeps only regions with data.
    colorado = regions_in_bbox(CONUS, grid, (-109.06, 36.99, -102.04, 41.0), base_dir=REPO)
    assert owner in colorado and len(colorado) > 4
    assert set(colorado) <= chunks_touched(grid, (-109.06, 36.99, -102.04, 41.0))


def test_a_box_in_the_ocean_or_off_the_grid_holds_no_region() -> None:
    grid = CONUS.region_grid()
    assert regions_in_bbox(CONUS, grid, (-150.0, 10.0, -149.0, 11.0), base_dir=REPO) == []
    assert chunks_touched(DEMO.region_grid(), (10.0, 10.0, 11.0, 11.0)) == set()


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1,2,3", "four numbers"),
        ("a,b,c,d", "four numbers"),
        ("-104,39,-105,40", "west before east"),
        ("-105,41,-104,40", "S < N"),
        ("-200,39,-104,40", "-180 <= W"),
        ("nan,39,-104,40", "finite"),
    ],
)
def test_a_bad_box_says_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(AreaError, match=why):
        parse_bbox(text)


def test_the_command_prints_ids_a_run_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    grid = DEMO.region_grid()
    w, s, _, n = inside(grid.region_bounds("y0_x1"), 1e-4)
    _, _, e, _ = inside(grid.region_bounds("y0_x2"), 1e-4)
    args = ["regions", "--configfile", str(DEMO_CONFIG), "--bbox", f"{w},{s},{e},{n}"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == "y0_x1,y0_x2"
    assert selected_region_ids(DEMO.updated({"regions": printed}), grid) == ["y0_x1", "y0_x2"]
    assert cli.main(["regions", "--configfile", str(DEMO_CONFIG), "--bbox", "10,10,11,11"]) == 1
    assert "no region with data touches 10,10,11,11" in capsys.readouterr().err
    assert cli.main(["regions", "--configfile", str(DEMO_CONFIG), "--bbox", "10,10"]) == 2


# ---- states and counties --------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_census(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """The demo's Census-style boundary files (made by the demo generator) and a config using them."""
    root = tmp_path_factory.mktemp("census")
    files = {kind: str(root / f"{kind}.zip") for kind in ("states", "counties")}
    write_boundaries(DEMO.region_grid(), files)
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["inputs"]["boundaries"] = files
    configfile = root / "config.yaml"
    configfile.write_text(yaml.safe_dump(raw))
    return load_settings(configfile), configfile


def in_area_samples(grid: RegionGrid, area: shapely.Geometry, n: int = 400) -> set[str]:
    """Owners of a lattice of points inside ``area`` (an independent view of the regions it covers)."""
    west, south, east, north = area.bounds
    x, y = (v.ravel() for v in np.meshgrid(np.linspace(west, east, n), np.linspace(south, north, n)))
    inside = shapely.contains_xy(area, x, y)
    return set(grid.region_of_points(x[inside], y[inside])) - {""}


def test_the_demo_boundaries_read_back_as_census_files(demo_census: tuple[Settings, Path]) -> None:
    settings, _ = demo_census
    counties, states = load_boundaries(settings, "counties"), load_boundaries(settings, "states")
    assert [counties.label(i) for i in range(len(counties))] == [
        "Lake County, CA",
        "Marin County, CA",
        "Napa County, CA",
        "Sonoma County, CA",
    ]
    assert states.label(0) == "California" and len(states) == 1
    sonoma = counties.geoid.index("06097")
    bundled = next(a for a in usatlas.counties() if a.geoid == "06097").geometry
    # NAD83 → WGS84 and back through the shapefile: the same shape to well under a metre.
    assert counties.geometry[sonoma].symmetric_difference(bundled).area < 1e-6 * bundled.area


def test_a_county_is_found_by_its_names_and_regions_follow_its_polygon(demo_census: tuple[Settings, Path]) -> None:
    settings, _ = demo_census
    counties, grid = load_boundaries(settings, "counties"), settings.region_grid()
    sonoma = counties.geoid.index("06097")
    for text in ("Sonoma County, CA", "Sonoma, CA", "sonoma  county", "Sonoma, California", "Sonoma"):
        assert find_county(counties, text) == sonoma, text
    marin = counties.geometry[counties.geoid.index("06041")]
    found = regions_in_area(settings, grid, marin)
    assert in_area_samples(grid, marin) <= set(found) <= chunks_touched(grid, marin.bounds)
    assert found == [rid for rid in grid.all_region_ids if rid in found]  # data region order


def test_on_the_conus_grid_a_state_lists_fewer_regions_than_its_box() -> None:
    grid = CONUS.region_grid()
    california = next(a for a in usatlas.states() if a.stusps == "CA").geometry
    found = regions_in_area(CONUS, grid, california, base_dir=REPO)
    boxed = regions_in_bbox(CONUS, grid, california.bounds, base_dir=REPO)
    assert in_area_samples(grid, california, 600) <= set(found) < set(boxed)
    assert len(found) < len(boxed) - 5  # Nevada's and the ocean's regions of the box are gone


def us_counties() -> Boundaries:
    areas = sorted(usatlas.counties(), key=lambda a: a.geoid)  # as read_boundaries orders them
    columns = census_columns("counties", list(areas))
    text = {c: [str(v) for v in columns[c]] for c in ("GEOID", "NAME", "NAMELSAD", "STUSPS", "STATE_NAME")}
    return Boundaries("counties", text, np.array([a.geometry for a in areas]))


def test_an_ambiguous_or_unknown_name_says_what_matches() -> None:
    counties = us_counties()
    boulder = find_county(counties, "Boulder County")  # one state has it: no state needed
    assert counties.label(boulder) == "Boulder County, CO"
    with pytest.raises(
        AreaError, match=r"ambiguous: .*Washington County, AL; .*Washington County, WI\. Fix: add the state"
    ):
        find_county(counties, "Washington County")
    assert counties.label(find_county(counties, "Washington County, OR")) == "Washington County, OR"
    with pytest.raises(AreaError, match=r"Close: Boulder County, CO"):
        find_county(counties, "Bolder County, CO")
    states = Boundaries(
        "states",
        {"GEOID": ["06", "08"], "NAME": ["California", "Colorado"], "STUSPS": ["CA", "CO"]},
        np.array([shapely.box(0, 0, 1, 1)] * 2),
    )
    assert find_state(states, "colorado") == find_state(states, "CO") == 1
    with pytest.raises(AreaError, match="Close: Colorado"):
        find_state(states, "Colorad")


def test_the_command_takes_a_state_or_a_county(
    demo_census: tuple[Settings, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, configfile = demo_census
    grid = settings.region_grid()
    counties = load_boundaries(settings, "counties")
    marin = counties.geometry[counties.geoid.index("06041")]
    base = ["regions", "--configfile", str(configfile)]
    assert cli.main([*base, "--county", "Marin County, CA"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.split(",") == regions_in_area(settings, grid, marin)
    assert selected_region_ids(settings.updated({"regions": printed}), grid) == printed.split(",")
    assert cli.main([*base, "--state", "CA"]) == 0
    assert capsys.readouterr().out.strip() == ",".join(grid.all_region_ids)
    assert cli.main([*base, "--county", "Marn County, CA"]) == 2
    assert "Close: Marin County, CA" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):  # one area at a time (argparse)
        cli.main([*base, "--state", "CA", "--county", "Marin"])
    assert "not allowed with argument --state" in capsys.readouterr().err
    raw = yaml.safe_load(configfile.read_text())
    del raw["inputs"]["boundaries"]
    (unset := configfile.with_name("no_boundaries.yaml")).write_text(yaml.safe_dump(raw))
    assert cli.main(["regions", "--configfile", str(unset), "--state", "CA"]) == 2
    assert "inputs.boundaries.states is not set. Fix: download cb_2023_us_state_500k.zip" in capsys.readouterr().err


def test_a_bad_boundary_file_names_the_key_and_the_fix(tmp_path: Path, demo_census: tuple[Settings, Path]) -> None:
    settings, _ = demo_census
    with pytest.raises(BoundaryError, match=r"inputs\.boundaries\.counties .*does not exist\. Fix: download"):
        read_boundaries(str(tmp_path / "nope.zip"), "counties")
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(BoundaryError, match=r"inputs\.boundaries\.counties .*not a readable shapefile"):
        read_boundaries(str(tmp_path / "text.zip"), "counties")
    with pytest.raises(BoundaryError, match=r"lacks the column\(s\) \['COUNTYFP', 'COUNTYNS', 'NAMELSAD'"):
        read_boundaries(str(settings.inputs.boundaries.states), "counties")  # a states file given as counties
    square = np.array([shapely.box(-2_000_000, 2_000_000, -1_900_000, 2_100_000)])
    projected = tmp_path / "albers.zip"
    columns = {c: ["06"] for c in COLUMNS["states"]}
    write_shapefile_zip(projected, "albers", columns, square, "EPSG:5070")
    with pytest.raises(BoundaryError, match=r"inputs\.boundaries\.states .*not geographic.*Fix: "):
        read_boundaries(str(projected), "states")
