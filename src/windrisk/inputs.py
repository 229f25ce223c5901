"""The workflow's inputs: which config keys they are, what identifies their content, and the
checks that stop a run on a bad input before any region job starts.

Why it is built this way
------------------------
* Snakemake deletes a job's outputs before the job runs. A region job that re-runs because of an
  input and then fails on that input loses the region's sentinel, although the store still holds
  the region. So every input is checked by a ``check_inputs`` job (one per group below) that all
  region jobs of the group wait for: a broken input fails there, once, before anything is deleted.
* Reruns follow content, not paths. Each group's check writes ``inputs/{group}-{digest}.json``,
  where ``digest`` hashes the *identities* of the group's inputs (below), never their locations.
  Region rules take that file as an ``ancient()`` input, so: a changed identity is a new file name
  (the set of inputs changed: Snakemake re-runs exactly the rules of that group); an unchanged one
  is the same, existing file (nothing re-runs, even when the check job itself re-runs, and a file
  moved or copied byte for byte re-runs nothing). A failed check of a *new* digest never touches
  the file of the old one, so putting the old config back re-runs nothing either.
* Identity: a local file's SHA-256 (cached by path, size, mtime and inode, so only new or changed
  files are read); an S3 object's ETag (and version id); an HTTP resource's ETag or size and date;
  a Zarr store (local or S3) by the SHA-256 of its metadata documents (the group's and each
  array's ``zarr.json``, or the Zarr v2 ``.z*`` files), not its chunks: archives are not
  rewritten in place with the same metadata, and listing millions of chunks at every start
  would cost minutes. Inputs produced by a rule (the demo inputs) are identified by that rule:
  Snakemake tracks them as files.
* Location of the job's inputs: region jobs read input *locations* from the workflow config
  (``snakemake.config``), not from ``params``: a param is a rerun trigger, and a moved file must
  not re-run anything. The check file carries the identities recorded as provenance.
* Depth of the checks: local rasters are scanned whole (value range, readability of every block);
  remote rasters by their headers only (region jobs check the values of the windows they read);
  the buildings file is always scanned whole (``buildings.census``), because the accounting of
  every building (kept, dropped and why, outside the grid) and duplicate ids need every row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np

from windrisk.grid import RegionGrid
from windrisk.io import s3_client, write_json_atomic
from windrisk.settings import Settings

log = logging.getLogger(__name__)

GROUPS: Final = ("rasters", "hourly", "buildings", "boundaries")
DIGEST_CHARS: Final = 16
UNRESOLVED: Final = "unresolved"
ZARR_METADATA: Final = ("zarr.json", ".zgroup", ".zattrs", ".zarray", ".zmetadata")
REMOTE_TIMEOUT_S: Final = 10
# Demo-like and real rasters are scanned in blocks of about this many pixels.
SCAN_BLOCK_PIXELS: Final = 16_000_000
DISTRIBUTION_SUM_TOLERANCE: Final = 1e-3
PRODUCTS_CRS: Final = "EPSG:5070"


class InputError(ValueError):
    """An input is missing, unreadable or unusable; the message names its config key and the fix."""


@dataclass(frozen=True)
class InputSpec:
    """One input: its key under ``inputs``, the group that checks it, and what valid data is."""

    key: str
    group: str
    kind: str  # "raster", "hourly", "buildings" or "boundaries"
    what: str
    valid_range: tuple[float, float] | None = None
    bands: int = 1

    @property
    def config_key(self) -> str:
        return f"inputs.{self.key}"


SPECS: Final = (
    InputSpec("burn_probability.2011", "rasters", "raster", "annual burn probability (Riley et al. 2025)", (0.0, 1.0)),
    InputSpec("burn_probability.2047", "rasters", "raster", "annual burn probability (Riley et al. 2025)", (0.0, 1.0)),
    InputSpec(
        "crps", "rasters", "raster", "conditional risk to potential structures in % (Scott et al. 2024)", (0.0, 100.0)
    ),
    InputSpec("rps", "rasters", "raster", "risk to potential structures in % (Scott et al. 2024)", (0.0, 100.0)),
    InputSpec(
        "wind.distribution",
        "rasters",
        "raster",
        "fractions of fire-weather hours by wind direction",
        (0.0, 1.0),
        bands=8,
    ),
    InputSpec("wind.hourly", "hourly", "hourly", "hourly T2, TD2, U10, V10 (CONUS404 style Zarr)"),
    InputSpec("buildings", "buildings", "buildings", "Overture-style buildings GeoParquet 1.1"),
    InputSpec("boundaries.states", "boundaries", "boundaries", "US Census cartographic boundary file of the states"),
    InputSpec(
        "boundaries.counties", "boundaries", "boundaries", "US Census cartographic boundary file of the counties"
    ),
)
SPEC_BY_KEY: Final = {spec.key: spec for spec in SPECS}


def _problem(spec: InputSpec, location: str, problem: str, fix: str) -> str:
    return f"{spec.config_key} ({location}): {problem}. Fix: {fix}"


class InputCheckError(InputError):
    """One or more inputs are unusable; the message has one line per problem, each with its fix."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} input problem(s):\n" + "\n".join(f"  - {p}" for p in self.problems))


def configured(settings: Settings, group: str | None = None) -> dict[str, str]:
    """Config key (under ``inputs``) → location, for every input the config sets (of ``group``)."""
    out = {}
    for spec in SPECS:
        if group is not None and spec.group != group:
            continue
        node: Any = settings.inputs
        for part in spec.key.split("."):
            node = node.get(part) if isinstance(node, Mapping) else getattr(node, part)
        if node:
            out[spec.key] = str(node)
    return out


def is_remote(location: str) -> bool:
    return "://" in location


# ---- identity ------------------------------------------------------------------------------
class HashCache:
    """SHA-256 of local files, keyed by (path, size, mtime, inode); kept in one JSON file.

    Only the main Snakemake process writes it (atomically), so concurrent jobs never collide.
    """

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        if self.path and self.path.exists():
            try:
                self.entries = json.loads(self.path.read_text())
            except (OSError, json.JSONDecodeError):
                self.entries = {}  # a damaged cache only costs re-hashing

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        hit = self.entries.get(key)
        if hit and hit.get("stamp") == stamp:
            return str(hit["sha256"])
        if stat.st_size > 1 << 30:
            log.warning("hashing %s (%.1f GB) once to identify its content", path, stat.st_size / 1e9)
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
        self.entries[key] = {"stamp": stamp, "sha256": digest}
        self.dirty = True
        return digest

    def save(self) -> None:
        if self.path and self.dirty:
            write_json_atomic(self.path, self.entries)
            self.dirty = False


def identity(location: str, cache: HashCache | None = None) -> dict[str, Any]:
    """What identifies an input's content (never its location); InputError when it cannot be read."""
    if location.startswith("s3://"):
        return _s3_identity(location)
    if location.startswith(("https://", "http://")):
        return _http_identity(location)
    if is_remote(location):
        raise InputError(f"{location}: only local paths, s3:// and http(s):// are supported")
    path = Path(location)
    if path.is_dir():
        return {"zarr_metadata_sha256": _digest_documents(_local_zarr_documents(path), location)}
    if not path.exists():
        raise InputError(f"{location} does not exist")
    return {"sha256": (cache or HashCache(None)).sha256(path), "size": path.stat().st_size}


def _digest_documents(documents: Mapping[str, bytes], location: str) -> str:
    if not documents:
        raise InputError(f"{location} is a directory but not a Zarr store (no zarr.json or .zgroup)")
    digest = hashlib.sha256()
    for name in sorted(documents):
        digest.update(name.encode() + b"\0" + hashlib.sha256(documents[name]).digest())
    return digest.hexdigest()


def _local_zarr_documents(root: Path) -> dict[str, bytes]:
    """The metadata documents of a Zarr store: the root's and each top-level array's."""
    docs = {}
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        for name in ZARR_METADATA:
            doc = folder / name
            if doc.is_file():
                docs[str(doc.relative_to(root))] = doc.read_bytes()
    return docs


def _s3_identity(location: str) -> dict[str, Any]:
    bucket, _, key = location.removeprefix("s3://").partition("/")
    try:
        client = s3_client(timeout_s=REMOTE_TIMEOUT_S)
        head = None if key.endswith("/") else _s3_head(client, bucket, key)
        if head is None:  # a prefix: a Zarr store
            return {
                "zarr_metadata_sha256": _digest_documents(_s3_zarr_documents(client, bucket, key.rstrip("/")), location)
            }
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - boto3/botocore raise many types; all mean "unreachable"
        raise InputError(f"{location}: cannot read its metadata ({type(exc).__name__}: {exc})") from None
    out: dict[str, Any] = {"etag": str(head["ETag"]).strip('"'), "size": int(head["ContentLength"])}
    if head.get("VersionId") not in (None, "null"):
        out["version_id"] = head["VersionId"]
    return out


def _s3_head(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object's HEAD response, or None when no object has that key."""
    from botocore.exceptions import ClientError

    try:
        return client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _s3_zarr_documents(client: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/", Delimiter="/")
    folders = [prefix] + [p["Prefix"].rstrip("/") for p in listing.get("CommonPrefixes", [])]
    docs = {}
    for folder in folders:
        for name in ZARR_METADATA:
            try:
                body = client.get_object(Bucket=bucket, Key=f"{folder}/{name}")["Body"].read()
            except client.exceptions.NoSuchKey:
                continue
            docs[f"{folder}/{name}".removeprefix(prefix + "/")] = body
    return docs


def _http_identity(location: str) -> dict[str, Any]:
    try:
        request = urllib.request.Request(location, method="HEAD")
        with urllib.request.urlopen(request, timeout=REMOTE_TIMEOUT_S) as response:
            headers = response.headers
    except Exception as exc:  # noqa: BLE001 - any failure means the resource cannot be identified
        raise InputError(f"{location}: HEAD request failed ({exc})") from None
    if headers.get("ETag"):
        return {"etag": headers["ETag"].strip('"')}
    found = {"size": headers.get("Content-Length"), "last_modified": headers.get("Last-Modified")}
    if not all(found.values()):
        raise InputError(f"{location}: the server sends neither an ETag nor size and Last-Modified")
    return {"size": int(found["size"]), "last_modified": found["last_modified"]}


def digest_of(identities: Mapping[str, Any]) -> str:
    """Short digest of a group's identities (key → identity), independent of key order."""
    text = json.dumps(identities, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


@dataclass(frozen=True)
class GroupIdentity:
    """A group's inputs as identified when the workflow was planned."""

    group: str
    identities: dict[str, dict[str, Any]]

    @property
    def digest(self) -> str:
        return digest_of(self.identities)

    @property
    def unresolved(self) -> list[str]:
        return [key for key, ident in self.identities.items() if UNRESOLVED in ident]

    @property
    def produced(self) -> list[str]:
        """Keys of inputs a rule of this workflow makes (identified by content once made)."""
        return [key for key, ident in self.identities.items() if "produced_by" in ident]


def with_produced_identified(settings: Settings, planned: GroupIdentity, cache: HashCache | None) -> GroupIdentity:
    """``planned`` with each rule-made input identified by its content (the files must exist)."""
    locations = configured(settings, planned.group)
    identities = {
        key: identity(locations[key], cache) if "produced_by" in ident else ident
        for key, ident in planned.identities.items()
    }
    return GroupIdentity(planned.group, identities)


def plan_identities(
    settings: Settings,
    produced: Mapping[str, str],
    cache: HashCache | None,
    groups: Iterable[str] = GROUPS,
) -> dict[str, GroupIdentity]:
    """Group → identities of its configured inputs, as the Snakefile sees them at parse time.

    ``produced``: location → rule for inputs a rule of this workflow makes (identified by it).
    A local input that is neither there nor produced is an InputCheckError naming the key. A
    remote input that cannot be reached is marked unresolved (the check job then reports it), so
    a dry run works offline.
    """
    problems = []
    planned = {}
    unreachable: dict[str, str] = {}  # scheme → why: after one failure, the others are not tried
    for group in groups:
        identities: dict[str, dict[str, Any]] = {}
        for key, location in configured(settings, group).items():
            spec = SPEC_BY_KEY[key]
            scheme = location.partition("://")[0] if is_remote(location) else ""
            if location in produced:
                identities[key] = {"produced_by": produced[location]}
            elif not scheme and not Path(location).exists():
                problems.append(
                    _problem(
                        spec,
                        location,
                        "the file does not exist",
                        f"set '{spec.config_key}' to an existing {spec.what} (local path, s3:// or https://)",
                    )
                )
            elif scheme in unreachable:
                identities[key] = {UNRESOLVED: unreachable[scheme]}
            else:
                try:
                    identities[key] = identity(location, cache)
                except InputError as exc:
                    if not scheme:
                        problems.append(_problem(spec, location, str(exc), "point it at a readable file"))
                        continue
                    log.warning(
                        "%s: %s; %s:// inputs are left unresolved (the check job will read them)",
                        spec.config_key,
                        exc,
                        scheme,
                    )
                    unreachable[scheme] = str(exc)
                    identities[key] = {UNRESOLVED: str(exc)}
        planned[group] = GroupIdentity(group, identities)
    if problems:
        raise InputCheckError(problems)
    return planned


# ---- checks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RasterFacts:
    """What a raster's header says, for the checks and the report."""

    crs: str | None
    bounds: tuple[float, float, float, float]
    dtypes: tuple[str, ...]
    nodata: tuple[float | None, ...]
    shape: tuple[int, int, int]


def raster_problems(
    spec: InputSpec, location: str, grid: RegionGrid, *, scan: bool
) -> tuple[list[str], dict[str, Any]]:
    """Problems of one raster input (header always; every value when ``scan``) and a summary."""
    from rasterio.errors import RasterioError

    from windrisk.rasters import open_raster

    try:
        with open_raster(location, spec.config_key) as src:
            facts = RasterFacts(
                src.crs.to_string() if src.crs else None,
                tuple(src.bounds),
                tuple(src.dtypes),
                tuple(src.nodatavals),
                (src.count, src.height, src.width),
            )
            problems = _header_problems(spec, location, facts, grid)
            summary: dict[str, Any] = {"crs": facts.crs, "shape": list(facts.shape), "dtype": facts.dtypes[0]}
            if scan and not problems:
                problems, stats = _scan_values(spec, location, src)
                summary.update(stats)
    except InputError as exc:
        return [str(exc)], {}
    except RasterioError as exc:
        return [
            _problem(
                spec,
                location,
                f"reading failed ({exc})",
                "replace it with a complete copy (the file is damaged or truncated)",
            )
        ], {}
    return problems, summary


def _header_problems(spec: InputSpec, location: str, facts: RasterFacts, grid: RegionGrid) -> list[str]:
    problems = []
    if facts.shape[0] != spec.bands:
        problems.append(
            _problem(
                spec,
                location,
                f"it has {facts.shape[0]} band(s), {spec.what} needs {spec.bands}",
                "point it at the right product",
            )
        )
    bad_types = sorted({d for d in facts.dtypes if np.dtype(d).kind not in "fiu"})
    if bad_types:
        problems.append(
            _problem(
                spec,
                location,
                f"its data type {bad_types} is not a real number",
                "provide a float32 (or integer) GeoTIFF",
            )
        )
    lo, hi = spec.valid_range or (-math.inf, math.inf)
    for nodata in {v for v in facts.nodata if v is not None and not math.isnan(v)}:
        if lo <= nodata <= hi:
            problems.append(
                _problem(
                    spec,
                    location,
                    f"its nodata value {nodata:g} lies inside the valid range [{lo:g}, {hi:g}], so real "
                    "values would be read as missing",
                    f"set a nodata value outside the range: gdal_edit.py -a_nodata "
                    f"-3.4028234663852886e+38 {location} (or -unsetnodata if it has none)",
                )
            )
    if facts.crs is None:
        problems.append(
            _problem(
                spec,
                location,
                "it has no CRS",
                f"set it: gdal_edit.py -a_srs {PRODUCTS_CRS} {location} (the USFS products are in {PRODUCTS_CRS})",
            )
        )
    else:
        problems += _overlap_problems(spec, location, facts.crs, facts.bounds, grid)
    return problems


def _overlap_problems(
    spec: InputSpec, location: str, crs_text: str, bounds: tuple[float, float, float, float], grid: RegionGrid
) -> list[str]:
    """Whether the input (``bounds`` in its CRS) overlaps the grid, with a CRS-aware message."""
    from pyproj import CRS, Transformer

    crs = CRS.from_user_input(crs_text)
    name = ":".join(crs.to_authority() or ()) or crs.name
    left, bottom, right, top = bounds
    looks_projected = max(abs(left), abs(right)) > 360 or max(abs(bottom), abs(top)) > 90
    fix = f"if its CRS tag is wrong, set the right one: gdal_edit.py -a_srs {PRODUCTS_CRS} {location}"
    if crs.is_geographic and looks_projected:
        return [
            _problem(
                spec, location, f"its CRS {name} is in degrees but its bounds {_fmt(bounds)} look like metres", fix
            )
        ]
    try:
        grid_bounds = Transformer.from_crs(grid.crs, crs, always_xy=True).transform_bounds(
            *grid.window_bounds(grid.full_window), densify_pts=21
        )
    except Exception as exc:  # noqa: BLE001 - pyproj raises several types for impossible transforms
        return [_problem(spec, location, f"the grid cannot be transformed to its CRS {name} ({exc})", fix)]
    if not all(map(math.isfinite, grid_bounds)):
        return [_problem(spec, location, f"the grid cannot be transformed to its CRS {name}", fix)]
    overlaps = left < grid_bounds[2] and right > grid_bounds[0] and bottom < grid_bounds[3] and top > grid_bounds[1]
    if overlaps:
        return []
    return [
        _problem(
            spec,
            location,
            f"in its CRS {name} it covers {_fmt(bounds)}, but the grid lies at "
            f"{_fmt(grid_bounds)} there: they do not overlap",
            fix + "; otherwise use a raster that covers the grid",
        )
    ]


def _fmt(bounds: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in bounds) + ")"


def _scan_values(spec: InputSpec, location: str, src: Any) -> tuple[list[str], dict[str, Any]]:
    """Read every block; count values outside the valid range (and distributions not summing to 1)."""
    from windrisk.rasters import read_native

    lo, hi = spec.valid_range or (-math.inf, math.inf)
    rows_per_block = max(1, SCAN_BLOCK_PIXELS // max(1, src.width * src.count))
    n_valid = n_outside = n_bad_sum = 0
    vmin, vmax = math.inf, -math.inf
    for row0 in range(0, src.height, rows_per_block):
        block = read_native(src, (row0, min(row0 + rows_per_block, src.height)), (0, src.width))
        finite = block[np.isfinite(block)]
        n_valid += finite.size
        if finite.size:
            vmin, vmax = min(vmin, float(finite.min())), max(vmax, float(finite.max()))
            n_outside += int(np.count_nonzero((finite < lo) | (finite > hi)))
        if spec.bands > 1:
            n_bad_sum += _distribution_sum_failures(block)
    stats = {"valid_values": n_valid, "min": vmin if n_valid else None, "max": vmax if n_valid else None}
    problems = []
    if n_valid == 0:
        problems.append(
            _problem(spec, location, "it holds no valid value (everything is nodata)", "point it at the real product")
        )
    if n_outside:
        problems.append(
            _problem(
                spec,
                location,
                f"{n_outside:,} of {n_valid:,} values lie outside [{lo:g}, {hi:g}] (min {vmin:g}, max "
                f"{vmax:g}) for {spec.what}",
                "use the product as published (check units and scale factor; nodata must be tagged as nodata)",
            )
        )
    if n_bad_sum:
        problems.append(
            _problem(
                spec,
                location,
                f"{n_bad_sum:,} pixels have band fractions that do not sum to 1",
                "use a distribution written by the wind_distribution rule (fractions over 8 bands)",
            )
        )
    return problems, stats


def _distribution_sum_failures(block: np.ndarray) -> int:
    """Pixels whose 8 fractions are all finite but do not sum to 1 (all-NaN pixels are fine)."""
    complete = np.isfinite(block).all(axis=0)
    total = block.sum(axis=0, where=np.isfinite(block))
    return int(np.count_nonzero(complete & (np.abs(total - 1.0) > DISTRIBUTION_SUM_TOLERANCE)))


def values_problem(spec_key: str, location: str, values: np.ndarray) -> str | None:
    """A region job's check of the values it read (NaN = nodata): None, or the problem and fix."""
    spec = SPEC_BY_KEY[spec_key]
    lo, hi = spec.valid_range or (-math.inf, math.inf)
    flat = np.asarray(values).reshape(-1)
    # In blocks: a full region's window is ~1 GiB, and masks of it would raise the job's peak.
    outside = sum(
        int(np.count_nonzero((block < lo) | (block > hi)))  # NaN (nodata) compares False
        for block in (flat[i : i + SCAN_BLOCK_PIXELS] for i in range(0, flat.size, SCAN_BLOCK_PIXELS))
    )
    if not outside:
        return None
    return _problem(
        spec,
        location,
        f"{outside:,} values in this region's window lie outside [{lo:g}, {hi:g}] (min "
        f"{np.nanmin(flat):g}, max {np.nanmax(flat):g}) for {spec.what}",
        "use the product as published",
    )


def hourly_problems(spec: InputSpec, location: str, grid: RegionGrid) -> tuple[list[str], dict[str, Any]]:
    """Problems of the hourly Zarr store (metadata only: variables, dims, CRS, overlap)."""
    from windrisk.fireweather import hourly_frame, open_hourly

    try:
        ds = open_hourly(location)
        crs_wkt, transform = hourly_frame(ds, location)
    except ValueError as exc:
        return [str(exc)], {}
    corners = [transform * (c, r) for c in (0, ds.sizes["x"]) for r in (0, ds.sizes["y"])]
    xs, ys = zip(*corners, strict=True)
    bounds = (min(xs), min(ys), max(xs), max(ys))
    return _overlap_problems(spec, location, crs_wkt, bounds, grid), {"hours": int(ds.sizes["time"])}


def check_group(
    settings: Settings,
    group: str,
    planned: Mapping[str, Mapping[str, Any]],
    grid: RegionGrid,
    data_regions: list[str],
    *,
    cache: HashCache | None = None,
) -> dict[str, Any]:
    """Check every input of ``group``; return the report, or raise InputCheckError listing them all.

    ``planned``: key → identity seen when the run was planned (a changed input is an error: the
    run was planned for another file).
    """
    problems: list[str] = []
    report: dict[str, Any] = {"group": group, "checked_at": datetime.now(UTC).isoformat(), "inputs": {}}
    for key, location in configured(settings, group).items():
        spec = SPEC_BY_KEY[key]
        try:
            ident = identity(location, cache)
        except InputError as exc:
            problems.append(_problem(spec, location, str(exc), "check the location and, for s3://, the credentials"))
            continue
        before = planned.get(key, {})
        if "produced_by" not in before and UNRESOLVED not in before and dict(before) != ident:
            problems.append(
                _problem(
                    spec,
                    location,
                    "it changed after the run was planned",
                    "run the workflow again (it plans for the file as it is now)",
                )
            )
            continue
        found, summary = _problems_of(spec, location, grid, settings, data_regions)
        problems += found
        report["inputs"][key] = {"location": location, "identity": ident, "summary": summary}
    if problems:
        raise InputCheckError(problems)
    return report


def _problems_of(
    spec: InputSpec, location: str, grid: RegionGrid, settings: Settings, data_regions: list[str]
) -> tuple[list[str], dict[str, Any]]:
    if spec.kind == "raster":
        return raster_problems(spec, location, grid, scan=not is_remote(location))
    if spec.kind == "hourly":
        return hourly_problems(spec, location, grid)
    if spec.kind == "boundaries":
        from windrisk.aoi import grid_lonlat_bounds
        from windrisk.boundaries import boundary_problems

        return boundary_problems(location, spec.key.split(".")[1], grid_lonlat_bounds(grid))
    from windrisk.buildings import census_problems

    return census_problems(location, grid, data_regions, settings.buildings.max_dropped_fraction)


def read_check(path: str | Path) -> dict[str, Any]:
    """A check report written by ``check_inputs``."""
    return json.loads(Path(path).read_text())


def checked_identities(check_report: Mapping[str, Any]) -> dict[str, Any]:
    """Key → identity of every input in a check report (recorded as a region's provenance)."""
    return {key: entry["identity"] for key, entry in check_report["inputs"].items()}


def region_input_identities(
    settings: Settings,
    planned: GroupIdentity,
    derived_distribution: str | None,
    cache: HashCache | None,
) -> dict[str, Any] | None:
    """The identities a region job would record now (its check report's, plus the derived
    distribution's), or None while any cannot be known: a rule-made file not made yet, an
    unreachable remote input."""
    out = {}
    wanted = dict(configured(settings, "rasters"))
    if derived_distribution is not None:
        wanted["wind.distribution"] = derived_distribution
    for key, location in wanted.items():
        ident = planned.identities.get(key, {"produced_by": "workflow"})
        if UNRESOLVED in ident:
            return None
        if "produced_by" in ident:
            if not Path(location).exists():
                return None
            ident = identity(location, cache)
        out[key] = ident
    return out


def run_check(
    settings: Settings,
    group: str,
    digest: str,
    planned: Mapping[str, Mapping[str, Any]],
    data_regions: list[str],
    *,
    target: str | Path,
) -> dict[str, Any]:
    """The ``check_inputs`` job: check ``group``, write its report to ``target`` (atomically), log
    what was found. Every problem is logged and raised together, so one run shows them all."""
    if digest_of(planned) != digest:
        stale = f"{target}: planned for inputs with digest {digest_of(planned)}, not {digest}"
        raise InputCheckError([stale + "; ask for the workflow's targets (rule all), not an old check file"])
    grid = settings.region_grid()
    try:
        report = check_group(settings, group, planned, grid, data_regions)
    except InputCheckError as exc:
        log.error("%s", exc)
        raise
    report["digest"] = digest
    for key, entry in report["inputs"].items():
        summary = {k: v for k, v in entry["summary"].items() if k not in ("regions", "duplicate_ids", "examples")}
        log.info("inputs.%s (%s): ok; %s", key, entry["location"], json.dumps(summary, sort_keys=True))
    write_json_atomic(target, report)
    return report
