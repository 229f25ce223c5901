"""The bundled public-domain map data decodes to the right places (windrisk.usatlas)."""

from __future__ import annotations

import shapely

from windrisk import usatlas


def test_counties_tile_their_states_and_contain_their_towns() -> None:
    states = {a.stusps: a for a in usatlas.states()}
    assert set(states) >= {usps for fips, (usps, _) in usatlas.STATES.items() if fips in usatlas.CONUS_FIPS}
    counties = {a.geoid: a for a in usatlas.counties()}
    assert counties["06097"].name == "Sonoma County" and counties["06097"].stusps == "CA"
    assert counties["22071"].name == "Orleans Parish" and counties["51760"].name == "Richmond city"
    assert shapely.Point(-122.71, 38.44).within(counties["06097"].geometry)  # Santa Rosa
    assert shapely.Point(-105.27, 40.01).within(counties["08013"].geometry)  # Boulder
    # States are merged from their counties in the TopoJSON: same area, every county inside.
    california = [c.geometry for c in counties.values() if c.geoid.startswith("06")]
    assert abs(shapely.union_all(california).area - states["CA"].geometry.area) < 1e-6 * states["CA"].geometry.area
    assert all(g.is_valid for g in california)
    assert usatlas.nation().contains(shapely.Point(-104.99, 39.74))  # Denver
    assert not usatlas.nation().contains(shapely.Point(-125.5, 38.0))  # the Pacific


def test_places_hold_every_capital_once_and_towns_by_state() -> None:
    places = usatlas.places()
    capitals = [p for p in places if p.kind == "capital"]
    assert len(capitals) == 50 and len({p.stusps for p in capitals}) == 50
    sacramento = next(p for p in capitals if p.stusps == "CA")
    assert sacramento.name == "Sacramento" and abs(sacramento.lon + 121.49) < 0.1
    assert not [p for p in places if p.kind == "town" and (p.name, p.stusps) == ("Sacramento", "CA")]
    santa_rosa = {p.stusps for p in places if p.name == "Santa Rosa"}
    assert {"CA", "NM"} <= santa_rosa


def test_county_names_follow_the_census_suffixes() -> None:
    assert usatlas.county_name("06097", "Sonoma") == "Sonoma County"
    assert usatlas.county_name("22071", "Orleans") == "Orleans Parish"
    assert usatlas.county_name("51760", "Richmond") == "Richmond city"
    assert usatlas.county_name("51159", "Richmond") == "Richmond County"
    assert usatlas.county_name("24510", "Baltimore") == "Baltimore city"
    assert usatlas.county_name("32510", "Carson City") == "Carson City"
