"""Typed settings: the same keys as the schema, built from the resolved config, hashed as before."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pytest
import yaml
from conftest import CONUS_CONFIG, DEMO_CONFIG

from windrisk import store
from windrisk.config import config_hash, load_config, schema
from windrisk.settings import Settings, TilesSettings, from_mapping

SHIPPED = [DEMO_CONFIG, CONUS_CONFIG]


def _settings_class(hint: Any) -> type | None:
    """The settings dataclass a field holds (``X`` or ``X | None``), else None."""
    for option in (hint, *get_args(hint)):
        if dataclasses.is_dataclass(option):
            return option
    return None


def _mismatches(cls: type, node: dict[str, Any], where: str) -> list[str]:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    properties = node.get("properties", {})
    out = [f"{where}{k}: in the schema, not in {cls.__name__}" for k in properties if k not in fields]
    out += [f"{where}{k}: in {cls.__name__}, not in the schema" for k in fields if k not in properties]
    for name, field in fields.items():
        sub = properties.get(name, {})
        if field.default is not dataclasses.MISSING and field.default is not None:
            out.append(f"{where}{name}: {cls.__name__} has a default of its own (the schema holds them)")
        inner = _settings_class(hints[name])
        if inner is not None:
            out += _mismatches(inner, sub, f"{where}{name}.")
        elif sub.get("type") == "object" and "properties" in sub and get_origin(hints[name]) is None:
            out.append(f"{where}{name}: an object in the schema, {hints[name]} in {cls.__name__}")
    return out


def test_settings_classes_hold_exactly_the_schema_keys_and_no_defaults() -> None:
    assert _mismatches(Settings, schema(), "") == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_build_typed_frozen_settings_that_round_trip(path: Path) -> None:
    settings = Settings.of(yaml.safe_load(path.read_text()))
    assert isinstance(settings.grid.chunks, tuple) and all(isinstance(n, int) for n in settings.grid.chunks)
    assert isinstance(settings.store.commit.patience_s, float)  # the schema's default, filled in
    assert isinstance(settings.tiles, TilesSettings) and settings.tiles.max_zoom == 14
    assert (settings.demo is None) == (path == CONUS_CONFIG)
    assert Settings.of(settings.as_config()) == settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.store.url = "elsewhere"  # type: ignore[misc]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_region_config_hash_is_the_one_of_the_plain_config(path: Path) -> None:
    """Regions already in a store carry this hash: computing it from settings must not change it."""
    raw = load_config(path)
    for method in (None, "ocr-v1.1.0"):
        cfg = {**raw, "method": {"compat": method}}
        grid = {k: v for k, v in cfg["grid"].items() if k != "data_regions"}
        plain = config_hash({"grid": grid, "method": {"compat": method}} if method else {"grid": grid})
        assert store.region_config_hash(Settings.of(cfg)) == plain
    # Numbers keep the type they were written with (30 vs 30.0 hash differently, as before).
    written = Settings.of({**raw, "grid": {**raw["grid"], "buffer_px": 7, "chunks": [10, 12]}})
    assert written.grid.chunks == (10, 12) and json.dumps(written.grid.transform) == json.dumps(
        raw["grid"]["transform"]
    )


def test_a_job_gets_its_params_sections_over_the_workflow_config() -> None:
    workflow = yaml.safe_load(DEMO_CONFIG.read_text())
    job = Settings.for_job(workflow, {"store": {"url": "elsewhere.icechunk"}, "regions": "y1_x1"})
    assert job.store.url == "elsewhere.icechunk" and job.regions == "y1_x1"
    assert job.inputs == Settings.of(workflow).inputs
    assert Settings.of({**workflow, "regions": ["y1_x1", "y2_x1"]}).regions == ("y1_x1", "y2_x1")


def test_updated_validates_again() -> None:
    settings = Settings.of(yaml.safe_load(DEMO_CONFIG.read_text()))
    assert settings.updated({"store": {"commit": {"patience_s": 5}}}).store.commit.patience_s == 5.0
    with pytest.raises(ValueError, match=r"tiles\.max_zoom"):
        settings.updated({"tiles": {"max_zoom": 99}})


def test_a_value_of_the_wrong_type_names_its_key() -> None:
    with pytest.raises(TypeError, match=r"tiles\.layer: expected str"):
        from_mapping(TilesSettings, {"layer": 3, "min_zoom": 0, "max_zoom": 14}, "tiles.")
    with pytest.raises(TypeError, match=r"max_zoom: expected int"):
        from_mapping(TilesSettings, {"layer": "b", "min_zoom": 0, "max_zoom": True})
