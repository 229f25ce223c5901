"""The config schema, the shipped configs and their validation (in Python and in Snakemake)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CONUS_CONFIG, DEMO_CONFIG, run_snakemake

from windrisk.config import DEFAULTS, ConfigError, config_hash, load_config, resolve_config, schema

SHIPPED = [DEMO_CONFIG, CONUS_CONFIG]
# Schema keys that no shipped config can hold, each with the reason.
NOT_IN_SHIPPED = {
    "inputs.wind.distribution": "the alternative to inputs.wind.hourly (exactly one is set)",
    "coiled.container": "the alternative to coiled.software",
    "store.s3.endpoint_url": "only for S3-compatible stores (MinIO, moto); AWS needs none",
    "store.s3.allow_http": "only for S3-compatible stores over plain HTTP",
    "store.s3.force_path_style": "only for S3-compatible stores",
    "store.s3.anonymous": "only for public buckets",
}


def _raw(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _schema_keys(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every property in the schema (objects recurse)."""
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path
        yield from _schema_keys(sub, path + ".")


def _config_keys(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, Mapping):
            yield from _config_keys(value, path + ".")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path) -> None:
    cfg = load_config(path)
    assert cfg["store"]["commit"]["patience_s"] > 0 and cfg["store"]["gc"]["safety_window_s"] >= 0  # defaults filled in
    assert len(config_hash(cfg)) == 64


def test_every_schema_key_is_shipped_or_defaulted() -> None:
    shipped = set().union(*(_config_keys(_raw(p)) for p in SHIPPED), _config_keys(DEFAULTS))
    missing = [k for k in _schema_keys(schema()) if k not in shipped and k not in NOT_IN_SHIPPED]
    assert not missing, f"schema keys in no shipped config and without a default: {missing}"
    stale = [k for k in NOT_IN_SHIPPED if k not in set(_schema_keys(schema()))]
    assert not stale, f"NOT_IN_SHIPPED names keys the schema no longer has: {stale}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_config_key_is_in_the_schema(path: Path) -> None:
    known = set(_schema_keys(schema()))
    unknown = [k for k in _config_keys(_raw(path)) if k not in known]
    assert not unknown
    assert not [k for k in _config_keys(DEFAULTS) if k not in known]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_defaults_validate_against_the_schema(path: Path) -> None:
    resolved = load_config(path)
    assert resolve_config(resolved) == resolved  # defaults are valid and resolving is idempotent


def test_defaults_come_from_the_schema_and_only_where_absent() -> None:
    """The schema's ``default`` keywords are the one statement of every default: a config that
    omits a section gets them, a config that sets a key keeps it, and a section without a
    default of its own (``demo``) is not invented."""
    from windrisk.settings import Settings
    from windrisk.store import commit_settings

    raw = _raw(CONUS_CONFIG)
    raw["store"].pop("commit", None)
    raw["store"]["gc"] = {"safety_window_s": 60.0}
    raw.pop("tiles", None)
    before = copy.deepcopy(raw)
    cfg = resolve_config(raw)
    assert raw == before  # resolving fills a copy
    commit = schema()["properties"]["store"]["properties"]["commit"]["properties"]
    settings = commit_settings(Settings.of(cfg))
    assert (settings.patience_s, settings.poll_max_s, settings.lease_ttl_s) == (
        commit["patience_s"]["default"],
        commit["poll_max_s"]["default"],
        commit["lease_ttl_s"]["default"],
    )
    assert settings.heartbeat_s == 15.0  # a quarter of the gc window that was set
    assert cfg["tiles"] == {"layer": "buildings", "min_zoom": 0, "max_zoom": 14, "basemap": None}
    assert cfg["method"] == {"compat": None} and "demo" not in cfg
    demo = _raw(DEMO_CONFIG)
    for key in ("dir", "n_buildings", "hours"):
        demo["demo"].pop(key, None)
    assert resolve_config(demo)["demo"] == {"seed": demo["demo"]["seed"], **DEFAULTS["demo"]}


def _bad(mutate: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(_raw(DEMO_CONFIG))
    mutate(cfg)
    return cfg


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: c.update(bogus=1), r"unknown key\(s\) \['bogus'\] at the top level"),
        (lambda c: c["grid"].update(chunk=[1, 2]), r"unknown key\(s\) \['chunk'\] in 'grid'"),
        (lambda c: c.pop("store"), r"missing required key\(s\) \['store'\]"),
        (lambda c: c["inputs"].pop("crps"), r"'inputs' is missing required key\(s\) \['crps'\]"),
        (
            lambda c: c["grid"].update(buffer_px="160"),
            r"'grid.buffer_px': '160' is not of type 'integer'",
        ),
        (lambda c: c["demo"].update(seed=-1), r"'demo.seed'"),
        (
            lambda c: c["inputs"]["wind"].update(wind_speed_unit="knots"),
            r"'inputs.wind.wind_speed_unit' is 'knots'",
        ),
        (
            lambda c: c["inputs"]["wind"].update(distribution="d.tif"),
            r"'inputs.wind' must set exactly one",
        ),
        (lambda c: c["tiles"].update(min_zoom=15, max_zoom=3), r"'tiles.min_zoom' must not exceed"),
    ],
)
def test_bad_config_gives_one_clear_error(mutate: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        resolve_config(_bad(mutate))
    assert str(info.value).count("invalid config") == 1


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def _output(proc: Any) -> str:
    return proc.stdout + proc.stderr


def test_snakemake_rejects_a_bad_config_before_any_job(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_bad(lambda c: c["grid"].update(buffer_px="many"))))
    proc = run_snakemake(tmp_path, "-n", configfile=bad, check=False, timeout=120)
    assert proc.returncode != 0
    assert "'grid.buffer_px': 'many' is not of type 'integer'" in _output(proc)
    assert "Job stats" not in _output(proc)


def test_snakemake_rejects_unknown_region_listing_valid_ids(tmp_path: Path) -> None:
    proc = run_snakemake(tmp_path, "-n", "--config", "regions=y9_x9", check=False, timeout=120)
    assert proc.returncode != 0
    out = _output(proc)
    assert "'y9_x9' is outside the grid" in out
    assert "y0_x0, y0_x1" in out and "y2_x3" in out


def test_snakemake_selects_the_given_regions(tmp_path: Path) -> None:
    proc = run_snakemake(tmp_path, "-n", "--config", "regions=y0_x1,y1_x2", timeout=300)
    selected = set(re.findall(r"region_id=(y\d+_x\d+)", _output(proc)))
    assert selected == {"y0_x1", "y1_x2"}, _output(proc)[-3000:]
