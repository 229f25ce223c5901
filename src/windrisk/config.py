"""Loading, validating and resolving the workflow config.

The JSON schema in ``schemas/config.schema.json`` is the single statement of what a config may
hold; the Snakefile validates against it at parse time, so a wrong key fails before any job.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from windrisk import ocr_compat
from windrisk.grid import RegionGrid, RegionIdError

DEFAULTS: dict[str, Any] = {
    "store": {
        "branch": "main",
        "commit": {"patience_s": 3600.0, "poll_max_s": 30.0, "lease_ttl_s": 120.0},
        "gc": {"safety_window_s": 3600.0},
        "reconcile_sentinels": True,
    },
    "buildings": {"row_group_size": 100_000, "max_dropped_fraction": 0.001},
    "tiles": {"layer": "buildings", "min_zoom": 0, "max_zoom": 14},
    "inputs": {"wind": {"wind_speed_unit": "m/s"}},
    # Where wind_distribution's work runs (windrisk.cluster); no effect on any result.
    "dask": {"cluster": "local", "workers": 0, "threads_per_worker": 1, "memory_per_worker": "4GiB",
             "task_memory": "1GiB", "slurm": {}, "coiled": {}},
}


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
    tiles = config.get("tiles", {})
    if tiles.get("min_zoom", 0) > tiles.get("max_zoom", 14):
        raise ConfigError("invalid config: 'tiles.min_zoom' must not exceed 'tiles.max_zoom'")
    if (config.get("method") or {}).get("compat"):
        problem = ocr_compat.grid_problem(RegionGrid.from_config(config["grid"]))
        if problem:
            raise ConfigError(f"invalid config: {problem}")


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and fill defaults; the result is what every stage reads."""
    validate_config(config)
    return _merge(DEFAULTS, config)


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config file, apply ``overrides`` and resolve it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; pass an existing --configfile") from None
    return resolve_config(_merge(raw, overrides or {}))


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config minus the region selection (which does not change any result)."""
    relevant = {k: v for k, v in config.items() if k != "regions"}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def grid_from_config(config: Mapping[str, Any]) -> RegionGrid:
    return RegionGrid.from_config(config["grid"])


def data_region_ids(config: Mapping[str, Any], grid: RegionGrid, base_dir: Path | None = None) -> list[str]:
    """Regions of the grid that hold data: every chunk, or the list in grid.data_regions."""
    source = config["grid"]["data_regions"]
    if source == "all":
        return list(grid.all_region_ids)
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        listed = json.loads(path.read_text())["region_ids"]
    except FileNotFoundError:
        raise ConfigError(f"grid.data_regions: file {path} does not exist; use 'all' or a JSON file with 'region_ids'") from None
    except (KeyError, json.JSONDecodeError) as exc:
        raise ConfigError(f"grid.data_regions: {path} is not JSON with a 'region_ids' list ({exc})") from None
    try:
        return grid.validate_region_ids(listed)
    except RegionIdError as exc:
        raise ConfigError(f"grid.data_regions: {path} lists a region outside the grid: {exc}") from None


def selected_region_ids(config: Mapping[str, Any], grid: RegionGrid, base_dir: Path | None = None) -> list[str]:
    """The regions this run covers, from ``regions`` ('all', an id, 'a,b' or a list)."""
    available = data_region_ids(config, grid, base_dir)
    wanted: str | Sequence[str] = config["regions"]
    if isinstance(wanted, str):
        if wanted.strip() == "all":
            return available
        wanted = [part.strip() for part in wanted.split(",") if part.strip()]
    return grid.validate_region_ids(wanted, allowed=available)
