"""Typed, read-only settings: what the package's functions take instead of the raw config dict.

``config.schema.json`` stays the one statement of every key and default; ``Settings.of`` resolves
a config (validation and defaults) and builds these classes from it by their type hints, so they
hold no defaults of their own. A test keeps their fields equal to the schema's properties.
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from windrisk.config import ConfigError, load_config, merge, resolve_config
from windrisk.grid import RegionGrid, RegionIdError


@dataclass(frozen=True)
class GridSettings:
    crs: str
    transform: tuple[float, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    buffer_px: int
    data_regions: str

    def region_grid(self) -> RegionGrid:
        return RegionGrid.from_config(dataclasses.asdict(self))


@dataclass(frozen=True)
class MethodSettings:
    compat: str | None


@dataclass(frozen=True)
class WindInputSettings:
    hourly: str | None
    distribution: str | None
    wind_speed_unit: str


@dataclass(frozen=True)
class BoundarySettings:
    states: str | None
    counties: str | None


@dataclass(frozen=True)
class InputSettings:
    burn_probability: Mapping[str, str]  # climate run -> location
    crps: str
    rps: str
    wind: WindInputSettings
    buildings: str
    boundaries: BoundarySettings


@dataclass(frozen=True)
class DemoSettings:
    seed: int
    dir: str
    n_buildings: int
    hours: int


@dataclass(frozen=True)
class S3Settings:
    region: str | None
    endpoint_url: str | None
    allow_http: bool | None
    force_path_style: bool | None
    anonymous: bool | None


@dataclass(frozen=True)
class CommitSettings:
    patience_s: float
    poll_max_s: float
    lease_ttl_s: float


@dataclass(frozen=True)
class GcSettings:
    safety_window_s: float

    @property
    def safety_window(self) -> timedelta:
        return timedelta(seconds=self.safety_window_s)


@dataclass(frozen=True)
class StoreSettings:
    url: str
    branch: str
    s3: S3Settings
    commit: CommitSettings
    gc: GcSettings
    reconcile_sentinels: bool

    @property
    def is_object_store(self) -> bool:
        return "://" in self.url


@dataclass(frozen=True)
class BuildingsSettings:
    row_group_size: int
    max_dropped_fraction: float


@dataclass(frozen=True)
class TilesSettings:
    layer: str
    min_zoom: int
    max_zoom: int
    basemap: str | None = None  # a MapLibre style JSON (URL or path); None: the offline basemap


@dataclass(frozen=True)
class DaskSettings:
    cluster: str
    workers: int
    threads_per_worker: int
    memory_per_worker: str
    task_memory: str
    slurm: Mapping[str, Any]  # passed through to dask_jobqueue.SLURMCluster
    coiled: Mapping[str, Any]  # passed through to coiled.Cluster


@dataclass(frozen=True)
class CoiledSettings:
    """Coiled batch jobs of profiles/coiled: a software env or a container, a region, a VM type."""

    software: str | None = None
    container: str | None = None
    region: str | None = None
    vm_type: str | None = None


@dataclass(frozen=True)
class Settings:
    """The whole resolved config."""

    run_name: str
    results: str
    grid: GridSettings
    method: MethodSettings
    regions: str | tuple[str, ...]
    inputs: InputSettings
    demo: DemoSettings | None  # only demo configs have it
    store: StoreSettings
    buildings: BuildingsSettings
    tiles: TilesSettings
    dask: DaskSettings
    coiled: CoiledSettings | None

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Settings:
        """Validate ``config``, fill the schema's defaults and build the typed tree."""
        return cls.from_resolved(resolve_config(config))

    @classmethod
    def from_resolved(cls, resolved: Mapping[str, Any]) -> Settings:
        """The typed tree of a config ``resolve_config`` (or ``load_config``) already returned."""
        return from_mapping(cls, resolved)

    @classmethod
    def for_job(cls, config: Mapping[str, Any], sections: Mapping[str, Any]) -> Settings:
        """A job's settings: the workflow config with ``sections`` (its ``params.config``) over it.

        Input locations are not params on purpose: a param is a rerun trigger, and moving an
        unchanged input must not re-run anything (its identity, in the check file name, decides).
        """
        return cls.of({**dict(config), **dict(sections), "inputs": config["inputs"]})

    def region_grid(self) -> RegionGrid:
        return self.grid.region_grid()

    def updated(self, overrides: Mapping[str, Any]) -> Settings:
        """These settings with ``overrides`` (nested like a config) merged in, validated again."""
        return Settings.of(merge(self.as_config(), overrides))

    def as_config(self) -> dict[str, Any]:
        """Back to the plain nested form (absent optional keys left out), e.g. for YAML or params."""
        return _plain(self)


def load_settings(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read, override and resolve a YAML config file (``config.load_config``) into settings."""
    return Settings.from_resolved(load_config(path, overrides))


def data_region_ids(settings: Settings, grid: RegionGrid, base_dir: Path | None = None) -> list[str]:
    """Regions of the grid that hold data: every chunk, or the list in grid.data_regions."""
    source = settings.grid.data_regions
    if source == "all":
        return list(grid.all_region_ids)
    path = Path(source)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    try:
        listed = json.loads(path.read_text())["region_ids"]
    except FileNotFoundError:
        raise ConfigError(
            f"grid.data_regions: file {path} does not exist; use 'all' or a JSON file with 'region_ids'"
        ) from None
    except (KeyError, json.JSONDecodeError) as exc:
        raise ConfigError(f"grid.data_regions: {path} is not JSON with a 'region_ids' list ({exc})") from None
    try:
        return grid.validate_region_ids(listed)
    except RegionIdError as exc:
        raise ConfigError(f"grid.data_regions: {path} lists a region outside the grid: {exc}") from None


def selected_region_ids(settings: Settings, grid: RegionGrid, base_dir: Path | None = None) -> list[str]:
    """The regions this run covers, from ``regions`` ('all', an id, 'a,b' or a list)."""
    available = data_region_ids(settings, grid, base_dir)
    wanted: str | Sequence[str] = settings.regions
    if isinstance(wanted, str):
        if wanted.strip() == "all":
            return available
        wanted = [part.strip() for part in wanted.split(",") if part.strip()]
    return grid.validate_region_ids(wanted, allowed=available)


# ---- building from a mapping by type hints -------------------------------------------------
@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def from_mapping[T](cls: type[T], values: Mapping[str, Any], where: str = "") -> T:
    """``cls`` (a settings dataclass) from a config section already resolved by the schema."""
    hints = _hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return cls(**{f.name: _convert(hints[f.name], values.get(f.name), f"{where}{f.name}") for f in fields})


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and type(None) in get_args(hint):
            return None
        if len(options) > 1:  # str | tuple[str, ...]: a string stays one, a list becomes the tuple
            chosen = str if isinstance(value, str) and str in options else next(o for o in options if o is not str)
            return _convert(chosen, value, where)
        return _convert(options[0], value, where)
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value or {}, where + ".")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"settings {where}: expected a list, got {value!r}")
        return tuple(value)  # element types kept as written: config_hash is of the written values
    if origin is Mapping:
        return dict(value or {})
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise TypeError(f"settings {where}: expected {hint.__name__}, got {value!r}")
    return value


def _plain(node: Any) -> Any:
    if dataclasses.is_dataclass(node):
        out = {f.name: _plain(getattr(node, f.name)) for f in dataclasses.fields(node)}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(node, tuple):
        return [_plain(v) for v in node]
    if isinstance(node, Mapping):
        return json.loads(json.dumps(dict(node)))
    return node
