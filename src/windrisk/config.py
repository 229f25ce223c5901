"""Loading, validating and resolving the workflow config.

The JSON schema in ``schemas/config.schema.json`` is the single statement of what a config may
hold and of every default (its ``default`` keywords); the Snakefile resolves the config at parse
time, so a wrong key fails before any job and every stage reads the same filled-in values.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from windrisk import ocr_compat
from windrisk.grid import RegionGrid


class ConfigError(ValueError):
    """The config does not match the schema; the message names the key and what is allowed."""


@cache
def schema() -> dict[str, Any]:
    return json.loads(files("windrisk").joinpath("schemas/config.schema.json").read_text())


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _explain(error: jsonschema.ValidationError) -> str:
    key = _key_path(error)
    sub = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties":
        allowed = sorted(sub.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        where = f"in '{key}'" if error.absolute_path else "at the top level"
        return f"unknown key(s) {extra} {where}; allowed keys: {allowed}"
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        where = f"'{key}'" if error.absolute_path else "the config"
        descr = {k: sub.get("properties", {}).get(k, {}).get("description", "") for k in missing}
        hints = "; ".join(f"{k}: {d}" if d else k for k, d in descr.items())
        return f"{where} is missing required key(s) {missing} ({hints})"
    if error.validator == "enum":
        return f"'{key}' is {error.instance!r}; allowed values: {error.validator_value}"
    if error.validator == "oneOf" and key.endswith("wind"):
        return f"'{key}' must set exactly one of 'hourly' or 'distribution'"
    descr = sub.get("description")
    return f"'{key}': {error.message}" + (f" ({descr})" if descr else "")


def validate_config(config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first bad key and what it allows."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError("invalid config: " + _explain(errors[0]))
    tiles = {**DEFAULTS["tiles"], **config.get("tiles", {})}
    if tiles["min_zoom"] > tiles["max_zoom"]:
        raise ConfigError("invalid config: 'tiles.min_zoom' must not exceed 'tiles.max_zoom'")
    if (config.get("method") or {}).get("compat"):
        problem = ocr_compat.grid_problem(RegionGrid.from_config(config["grid"]))
        if problem:
            raise ConfigError(f"invalid config: {problem}")


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fill_defaults(node: Mapping[str, Any], instance: dict[str, Any]) -> None:
    """Set every absent property that has a schema ``default``, recursing into objects (in place)."""
    for key, sub in node.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict):
            _fill_defaults(sub, instance[key])


def _defaults_of(node: Mapping[str, Any]) -> dict[str, Any]:
    """Every default below ``node``, nested as a config holds them (objects without one included)."""
    out: dict[str, Any] = {}
    for key, sub in node.get("properties", {}).items():
        below = _defaults_of(sub)
        if "default" in sub:
            out[key] = (
                merge(sub["default"], below) if isinstance(sub["default"], dict) else copy.deepcopy(sub["default"])
            )
        elif below:
            out[key] = below
    return out


# The schema's defaults, nested as a config holds them (read only).
DEFAULTS: dict[str, Any] = _defaults_of(schema())


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and fill the schema's defaults; the result is what every stage reads."""
    validate_config(config)
    resolved = copy.deepcopy(dict(config))
    _fill_defaults(schema(), resolved)
    return resolved


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config file, apply ``overrides`` and resolve it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing --configfile") from None
    return resolve_config(merge(raw, overrides or {}))


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config minus the region selection (which does not change any result)."""
    relevant = {k: v for k, v in config.items() if k != "regions"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()
