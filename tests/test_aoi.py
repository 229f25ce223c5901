"""``windrisk regions --bbox``: the data regions a lon/lat box touches, on the demo and CONUS grids."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import CONUS_CONFIG, DEMO_CONFIG, REPO
from pyproj import Transformer

from windrisk import cli
from windrisk.aoi import AreaError, chunks_touched, parse_bbox, regions_in_bbox
from windrisk.settings import load_settings, selected_region_ids

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
