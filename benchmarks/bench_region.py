"""One full-size region end to end, step by step, against the published formulation.

The region job as Snakemake runs it — ``wind.region_job`` (store check, read, gap fill, resample,
spread, composite, blur, hash, write chunks, commit, proof) then
``buildings.write_region_buildings`` (read store, buildings) — on one interior 6,000 x 4,500 px
region of the published grid (``config/conus.yaml``; default ``y8_x17``, ~38 N) with its 490 px
buffer, both climate runs. Inputs are synthetic but at real resolution and in the real formats:
BP 2011 / 2047 at 270 m and CRPS / RPS at 30 m (EPSG:5070 float32 GeoTIFFs, NaN nodata, zeros on
non-burnable land, a NaN lake), the 8-band distribution on CONUS404's 4 km Lambert grid (as the
``wind_distribution`` rule writes it) and ~400,000 Overture-style buildings in the region.
They are written once into ``--workdir`` (reused by later runs with the same settings) with the
input check reports and the store template; none of that is timed.

Each measured job is a fresh subprocess on a fresh copy of the template store, so its peak RSS
is the job's: ours with an empty ``NUMBA_CACHE_DIR`` (first call: numba compiles), ours again
with that cache (warm), and the baseline: the published formulation of the same steps — GDAL
warp nearest per raster (``rasterio.warp.reproject``, approximate transformer), the
``cv2.filter2D`` spreading and ``cv2.GaussianBlur`` of ``bench_wind.py``, a plain Zarr write of
the 8 arrays and building sampling. Steps come from ``windrisk.timing``; wall time outside every
step is "other". Targets (warm run): whole region <= 60 s wall and <= 3 GiB peak on an idle
2-core machine; the CONUS projection (405 regions) is printed for 1, 50 and 200 workers.

    .venv/bin/python benchmarks/bench_region.py [--workdir DIR] [--region ID] [--seed N] [--quick] [--json]

``--quick``: a 600 x 450 px region (the published pixel lattice, a 5 x 5-region sub-grid).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import rasterio
import rasterio.windows
import shapely
import yaml
import zarr
from affine import Affine
from bench_wind import reference_blur, reference_composite, reference_spread
from pyproj import CRS, Transformer
from rasterio.warp import Resampling, reproject, transform_bounds

from windrisk import buildings, conus404, demo, fireweather, inputs, store, timing, wind
from windrisk.grid import RegionGrid, Window
from windrisk.io import write_json_atomic
from windrisk.settings import Settings, data_region_ids
from windrisk.timing import step
from windrisk.variables import CLIMATE_RUNS, VARIABLES

ROOT = Path(__file__).resolve().parent.parent
FULL_REGION = "y8_x17"
QUICK_CHUNKS = (600, 450)
QUICK_GRID_REGIONS = 5  # quick sub-grid: 5 x 5 regions, the measured one in the middle
N_BUILDINGS = 400_000  # per full-size region; scaled by area for --quick
N_TOWNS = 150  # likewise
TOWN_SHARE = 0.85  # buildings in towns; the rest scattered
LAKE_RADIUS = 0.03  # of the BP frame's smaller side: one NaN lake (~5 km at full size)
CODE_VERSION = "bench"
INPUTS_VERSION = 1  # bump when the synthetic inputs change: cached ones are then rewritten
STEPS = (
    "store check",
    "read",
    "gap fill",
    "resample",
    "spread",
    "composite",
    "blur",
    "hash",
    "write chunks",
    "commit",
    "proof",
    "read store",
    "buildings",
)
KINDS = {"ours_first": "ours, first call", "ours_warm": "ours, warm", "baseline": "baseline"}
TARGET_WALL_S = 60.0
TARGET_PEAK_GIB = 3.0
CONUS_REGIONS = 405
WORKERS = (1, 50, 200)
Bounds = tuple[float, float, float, float]


# ---- configuration and layout ---------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where one benchmark size keeps its cached inputs, template store and runs."""

    root: Path

    def input(self, name: str) -> str:
        return str(self.root / "inputs" / name)

    def check(self, group: str) -> str:
        return self.input(f"check-{group}.json")

    @property
    def manifest(self) -> Path:
        return self.root / "inputs" / "manifest.json"

    @property
    def template(self) -> Path:
        return self.root / "template" / "store.icechunk"

    @property
    def numba_cache(self) -> Path:
        return self.root / "numba-cache"

    def run(self, kind: str) -> Path:
        return self.root / "runs" / kind

    def store(self, kind: str) -> Path:
        return self.run(kind) / "store.icechunk"


def quick_grid(published: dict[str, Any], rid: str) -> tuple[dict[str, Any], str]:
    """A 5 x 5 sub-grid of 600 x 450 px regions on the published pixel lattice, centred on ``rid``."""
    grid = RegionGrid.from_config(published)
    window = grid.region_window(rid)
    rows, cols = QUICK_CHUNKS
    half = QUICK_GRID_REGIONS // 2
    row0 = (window.row_start + window.row_stop) // 2 - rows // 2 - half * rows
    col0 = (window.col_start + window.col_stop) // 2 - cols // 2 - half * cols
    transform = grid.transform * Affine.translation(col0, row0)
    sub = {
        **published,
        "transform": list(transform)[:6],
        "chunks": [rows, cols],
        "data_regions": "all",
        "shape": [QUICK_GRID_REGIONS * rows, QUICK_GRID_REGIONS * cols],
    }
    return sub, f"y{half}_x{half}"


def bench_config(layout: Layout, rid: str, quick: bool) -> tuple[Settings, str]:
    """The published config with local synthetic inputs and a local store; and the region to run."""
    raw = yaml.safe_load((ROOT / "config" / "conus.yaml").read_text())
    raw["grid"]["data_regions"] = str(ROOT / raw["grid"]["data_regions"])
    if quick:
        raw["grid"], rid = quick_grid(raw["grid"], rid)
    raw["results"] = str(layout.root / "results")
    raw["inputs"] = {
        "burn_probability": {run: layout.input(f"bp_{run}.tif") for run in CLIMATE_RUNS},
        "crps": layout.input("crps.tif"),
        "rps": layout.input("rps.tif"),
        # Never read here: the job gets the derived distribution file, as from the wind_distribution rule.
        "wind": {"hourly": layout.input("hourly.zarr"), "wind_speed_unit": "m/s"},
        "buildings": layout.input("buildings.parquet"),
    }
    raw["store"] = {"url": str(layout.template), "branch": "main"}
    return Settings.of(raw), rid


def with_store(config: Settings, url: Path) -> Settings:
    return config.updated({"store": {"url": str(url)}})


# ---- synthetic inputs -----------------------------------------------------------------------
@dataclass(frozen=True)
class Towns:
    """Town centres (lon, lat), spread (degrees) and relative size."""

    x: np.ndarray
    y: np.ndarray
    sigma_deg: np.ndarray
    weight: np.ndarray


def window_grid(grid: RegionGrid, window: Window) -> RegionGrid:
    """A one-region grid covering ``window`` of ``grid`` (for ``demo.albers_frame``)."""
    return RegionGrid(
        grid.crs, grid.transform * Affine.translation(window.col_start, window.row_start), window.shape, window.shape
    )


def make_towns(rng: np.random.Generator, bounds: Bounds, n: int) -> Towns:
    """``n`` towns anywhere in ``bounds``, sizes Zipf-like (a few large, many small)."""
    left, bottom, right, top = bounds
    weight = 1.0 + rng.pareto(1.1, n)
    sigma = np.minimum(0.003 * np.sqrt(weight), 0.03)
    return Towns(rng.uniform(left, right, n), rng.uniform(bottom, top, n), sigma, weight)


def building_centres(rng: np.random.Generator, towns: Towns, bounds: Bounds, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points strictly inside ``bounds``: most around towns, the rest scattered."""
    left, bottom, right, top = bounds
    xs, ys, have = [], [], 0
    while have < n:
        m = n - have
        pick = rng.choice(len(towns.x), m, p=towns.weight / towns.weight.sum())
        in_town = rng.random(m) < TOWN_SHARE
        sigma = towns.sigma_deg[pick]
        x = np.where(
            in_town,
            towns.x[pick] + rng.normal(0, 1, m) * sigma / np.cos(np.radians(towns.y[pick])),
            rng.uniform(left, right, m),
        )
        y = np.where(in_town, towns.y[pick] + rng.normal(0, 1, m) * sigma, rng.uniform(bottom, top, m))
        ok = (x > left) & (x < right) & (y > bottom) & (y < top)
        xs.append(x[ok])
        ys.append(y[ok])
        have += int(ok.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def write_buildings(rng: np.random.Generator, towns: Towns, bounds: Bounds, n: int, path: str) -> None:
    """Overture-style GeoParquet of ``n`` rotated 8-24 m rectangles (``demo.write_footprints``)."""
    x, y = building_centres(rng, towns, bounds, n)
    rings = demo._box(x, y, rng.uniform(4.0, 12.0, (n, 2)), rng.uniform(0, np.pi / 2, n))
    demo.write_footprints(rng, shapely.polygons(rings), path)


def frame_px(transform: Affine, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(lon, lat) → (row, col) in the EPSG:5070 raster of ``transform``."""
    ax, ay = Transformer.from_crs("EPSG:4326", demo.ALBERS, always_xy=True).transform(x, y)
    col, row = ~transform * (np.asarray(ax), np.asarray(ay))
    return np.column_stack([row, col])


def write_burn_probability(
    rng: np.random.Generator, grid: RegionGrid, window: Window, towns: Towns, paths: dict[str, str]
) -> tuple[Affine, np.ndarray, np.ndarray]:
    """BP 2011 and 2047 at 270 m over the buffered window + 5 km (``demo.burn_probability``: zeros
    on fields, towns, lakes, roads; the largest towns non-burnable; one NaN lake); returns the
    frame's transform, land mask and BP 2011."""
    transform, shape = demo.albers_frame(window_grid(grid, window), 0)
    water = np.zeros(shape, dtype=bool)
    demo.add_blob(water, (0.35 * shape[0], 0.6 * shape[1]), LAKE_RADIUS * min(shape))
    largest = np.argsort(towns.weight)[-12:]
    bp11, bp47 = demo.burn_probability(rng, ~water, frame_px(transform, towns.x[largest], towns.y[largest]))
    for run, bp in zip(CLIMATE_RUNS, (bp11, bp47), strict=True):
        demo.write_geotiff(paths[run], bp, transform, f"annual burn probability, {run} climate run", nodata=np.nan)
    return transform, ~water, bp11


def write_crps_rps(
    rng: np.random.Generator,
    grid: RegionGrid,
    region: Window,
    bp_frame: tuple[Affine, np.ndarray, np.ndarray],
    paths: dict[str, str],
) -> None:
    """CRPS (``demo.crps_field``) and RPS = BP 2011 x CRPS at 30 m over the region + 5 km only."""
    bp_transform, land, bp11 = bp_frame
    transform, shape = demo.albers_frame(window_grid(grid, region), 0)  # on the BP frame's 270 m lattice
    r0 = round((bp_transform.f - transform.f) / demo.BP_PIXEL_M)
    c0 = round((transform.c - bp_transform.c) / demo.BP_PIXEL_M)
    sub = (slice(r0, r0 + shape[0]), slice(c0, c0 + shape[1]))
    k = demo.CRPS_PER_BP
    fine = lambda a: np.repeat(np.repeat(a[sub], k, axis=0), k, axis=1)
    fine_transform = transform @ Affine.scale(1 / k)
    crps = demo.crps_field(rng, fine(land), shape)
    demo.write_geotiff(
        paths["crps"], crps, fine_transform, "conditional risk to potential structures (%)", nodata=np.nan
    )
    demo.write_geotiff(
        paths["rps"], fine(bp11) * crps, fine_transform, "risk to potential structures (%)", nodata=np.nan
    )


def lambert_frame(grid: RegionGrid, window: Window, margin_px: int = 3) -> tuple[Affine, tuple[int, int], str]:
    """North-up transform, shape and WKT of the CONUS404 4 km pixels covering ``window`` + margin."""
    crs = CRS.from_cf(conus404.CRS_CF)
    xmin, ymin, xmax, ymax = Transformer.from_crs(grid.crs, crs, always_xy=True).transform_bounds(
        *grid.window_bounds(window), densify_pts=64
    )
    px = conus404.PIXEL_M
    x_edge = -(conus404.SHAPE[1] - 1) / 2 * px - px / 2  # west edge of column 0
    y_edge = -(conus404.SHAPE[0] - 1) / 2 * px - px / 2  # south edge of row 0
    c0, c1 = math.floor((xmin - x_edge) / px) - margin_px, math.ceil((xmax - x_edge) / px) + margin_px
    r0, r1 = math.floor((ymin - y_edge) / px) - margin_px, math.ceil((ymax - y_edge) / px) + margin_px
    transform = Affine(px, 0.0, x_edge + c0 * px, 0.0, -px, y_edge + r1 * px)
    return transform, (r1 - r0, c1 - c0), crs.to_wkt()


def write_distribution(rng: np.random.Generator, grid: RegionGrid, window: Window, path: str) -> None:
    """8-band fractions of fire-weather hours (a smoothly turning prevailing direction plus noise)
    on the CONUS404 grid, written by ``fireweather.write_distribution`` as the rule does."""
    transform, shape, crs_wkt = lambert_frame(grid, window)
    directions = fireweather.DIRECTIONS
    prevailing = np.radians(200.0 + 120.0 * demo._smooth(rng, shape, 4.0))
    angles = np.radians(45.0 * np.arange(len(directions)))[:, None, None]
    noise = np.stack([0.3 + demo._smooth(rng, shape, 2.0) for _ in directions])
    weights = np.exp(2.0 * np.cos(angles - prevailing)) * noise
    fireweather.write_distribution(path, (weights / weights.sum(axis=0)).astype(np.float32), crs_wkt, transform, "m/s")


def write_checks(config: Settings, layout: Layout) -> None:
    """The ``check_inputs`` reports of the rasters and buildings groups (identities, census)."""
    grid = config.region_grid()
    regions = data_region_ids(config, grid)
    for group in ("rasters", "buildings"):
        planned = {key: {"produced_by": "bench_region"} for key in inputs.configured(config, group)}
        write_json_atomic(layout.check(group), inputs.check_group(config, group, planned, grid, regions))


def prepare_inputs(config: Settings, rid: str, layout: Layout, seed: int, n_buildings: int) -> float:
    """Write the synthetic inputs and check reports unless the manifest shows them; seconds taken."""
    manifest = {
        "version": INPUTS_VERSION,
        "seed": seed,
        "region": rid,
        "grid": config.as_config()["grid"],
        "n_buildings": n_buildings,
    }
    if layout.manifest.exists() and json.loads(layout.manifest.read_text()) == manifest:
        return 0.0
    start = time.perf_counter()
    grid = config.region_grid()
    window, bounds = grid.buffered_window(rid, config.grid.buffer_px), grid.region_bounds(rid)
    raster_rng, wind_rng, building_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    towns = make_towns(building_rng, bounds, max(3, round(N_TOWNS * n_buildings / N_BUILDINGS)))
    write_buildings(building_rng, towns, bounds, n_buildings, config.inputs.buildings)
    bp_frame = write_burn_probability(raster_rng, grid, window, towns, config.inputs.burn_probability)
    locations = {"crps": config.inputs.crps, "rps": config.inputs.rps}
    write_crps_rps(raster_rng, grid, grid.region_window(rid), bp_frame, locations)
    write_distribution(wind_rng, grid, window, layout.input("distribution.tif"))
    write_checks(config, layout)
    write_json_atomic(layout.manifest, manifest)
    return time.perf_counter() - start


# ---- ours: the region job as the two Snakemake scripts run it -------------------------------
def ours(spec: dict[str, Any]) -> dict[str, Any]:
    """``region_job`` then ``write_region_buildings`` (scripts/wind_region.py, buildings_region.py)."""
    config, rid, run_dir = Settings.of(spec["config"]), spec["region"], Path(spec["run_dir"])
    census = inputs.read_check(spec["checks"]["buildings"])["inputs"]["buildings"]["summary"]
    sentinel = run_dir / "sentinel.json"
    payload = wind.region_job(config, rid, spec["distribution"], spec["checks"]["rasters"], CODE_VERSION, str(sentinel))
    account = buildings.write_region_buildings(
        config, rid, sentinel, run_dir / "buildings.parquet", location=config.inputs.buildings, census=census
    )
    return {"snapshot_id": payload["snapshot_id"], "buildings_written": account["written"]}


# ---- baseline: the published formulation of the same steps ---------------------------------
def native_window(
    src: rasterio.DatasetReader, grid: RegionGrid, window: Window, margin_px: int = 2
) -> rasterio.windows.Window:
    """The raster's window covering a grid window plus a margin, clipped."""
    left, bottom, right, top = transform_bounds(grid.crs, src.crs, *grid.window_bounds(window), densify_pts=21)
    cols, rows = ~src.transform * (np.array([left, right]), np.array([top, bottom]))
    r0, r1 = max(math.floor(rows.min()) - margin_px, 0), min(math.ceil(rows.max()) + margin_px, src.height)
    c0, c1 = max(math.floor(cols.min()) - margin_px, 0), min(math.ceil(cols.max()) + margin_px, src.width)
    return rasterio.windows.Window.from_slices((r0, r1), (c0, c1))


def warped(
    location: str, grid: RegionGrid, window: Window, native_fn: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
    """Read a raster's window, optionally change it natively, GDAL-warp it (nearest) onto ``window``."""
    with step("read"), rasterio.open(location) as src:
        win = native_window(src, grid, window)
        native = src.read(window=win).astype(np.float32)  # the synthetic inputs' nodata is NaN
        transform, crs = src.window_transform(win), src.crs
    if native_fn is not None:
        with step("gap fill"):
            native = native_fn(native)
    with step("resample"):
        out = np.full((native.shape[0], *window.shape), np.nan, dtype=np.float32)
        reproject(
            native,
            out,
            src_transform=transform,
            src_crs=crs,
            src_nodata=np.nan,
            dst_transform=grid.transform * Affine.translation(window.col_start, window.row_start),
            dst_crs=grid.crs,
            dst_nodata=np.nan,
            resampling=Resampling.nearest,
        )
    return out[0] if out.shape[0] == 1 else out


def write_plain_zarr(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Each array as one Zarr v3 array of one chunk (the region), default compression."""
    group = zarr.open_group(str(path), mode="w")
    for name, arr in arrays.items():
        group.create_array(name, shape=arr.shape, chunks=arr.shape, dtype="float32", fill_value=np.nan)[...] = arr


def read_plain_zarr(path: Path) -> dict[str, np.ndarray]:
    group = zarr.open_group(str(path), mode="r")
    return {name: group[name][...] for name in VARIABLES}


def sample_buildings(location: str, grid: RegionGrid, rid: str, arrays: dict[str, np.ndarray], target: Path) -> int:
    """Buildings whose bbox meets the region → centroid → the region's pixel values → Parquet
    (id, lon, lat, 8 values); returns the rows written."""
    left, bottom, right, top = grid.region_bounds(rid)
    edge = lambda key: pc.field("bbox", key)
    near = (edge("xmax") >= left) & (edge("xmin") <= right) & (edge("ymax") >= bottom) & (edge("ymin") <= top)
    table = pds.dataset(location).to_table(columns=["id", "geometry"], filter=near)
    centroids = shapely.centroid(shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False)))
    x, y = shapely.get_x(centroids), shapely.get_y(centroids)
    window = grid.region_window(rid)
    col, row = ~(grid.transform * Affine.translation(window.col_start, window.row_start)) * (x, y)
    row, col = np.floor(row), np.floor(col)
    inside = (row >= 0) & (row < window.shape[0]) & (col >= 0) & (col < window.shape[1])
    r, c = row[inside].astype(np.int64), col[inside].astype(np.int64)
    columns = {"id": table.column("id").filter(pa.array(inside)), "lon": x[inside], "lat": y[inside]}
    columns.update({name: arr[r, c] for name, arr in arrays.items()})
    pq.write_table(pa.table(columns), target, compression="zstd")
    return int(inside.sum())


def baseline(spec: dict[str, Any]) -> dict[str, Any]:
    """The published formulation of the same steps, under the same step names. The gap fill is
    ours (``wind.fill_isolated_zeros``, the published arithmetic) on both sides."""
    config, rid, run_dir = Settings.of(spec["config"]), spec["region"], Path(spec["run_dir"])
    grid = config.region_grid()
    window, region = grid.buffered_window(rid, config.grid.buffer_px), grid.region_window(rid)
    inner = region.relative_to(window)
    pixel_size_m = grid.pixel_size_m(rid)
    kernels = wind.direction_kernels(pixel_size_m, grid.rows_ascend_north)
    ksize = wind.blur_ksize(pixel_size_m[0])
    filled_and_read = lambda native: np.stack([wind.fill_isolated_zeros(native[0]), native[0]])
    bp = {run: warped(config.inputs.burn_probability[run], grid, window, filled_and_read) for run in CLIMATE_RUNS}
    dist = warped(spec["distribution"], grid, window)
    out = {f"bp_{run}_riley": bp[run][1][inner] for run in CLIMATE_RUNS}
    for run in CLIMATE_RUNS:
        with step("spread"):
            spreads = reference_spread(bp[run][0], kernels)
        with step("composite"):
            comp = reference_composite(spreads, dist)
        with step("blur"):
            out[f"bp_{run}"] = reference_blur(bp[run][0], comp, ksize)[inner]
        del spreads, comp, bp[run]
    for key in ("crps", "rps"):
        out[key] = warped(getattr(config.inputs, key), grid, region)
    for run in CLIMATE_RUNS:
        out[f"rps_{run}"] = out[f"bp_{run}"] * out["crps"]
    with step("write chunks"):
        write_plain_zarr(run_dir / "baseline.zarr", out)
    del out
    with step("read store"):
        arrays = read_plain_zarr(run_dir / "baseline.zarr")
    with step("buildings"):
        n = sample_buildings(config.inputs.buildings, grid, rid, arrays, run_dir / "buildings.parquet")
    return {"buildings_written": n}


# ---- running the jobs -------------------------------------------------------------------------
def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


class HighWater(logging.Handler):
    """The RSS high-water mark at the end of every timed step (``windrisk.timing`` logs each end)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.marks: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.marks.append((str(record.args[0]), peak_rss_gib()))  # args: (step name, seconds)

    def peak_step(self, peak: float) -> str:
        """The first step whose end saw the final peak: it was reached in it or just before it."""
        return next((name for name, mark in self.marks if mark >= peak), "other")


def child(kind: str, spec_path: str) -> None:
    """Run one job in this process; print wall, CPU, per-step seconds and peak RSS as JSON."""
    logging.basicConfig(level=logging.WARNING)
    marks = HighWater()
    log = logging.getLogger(timing.__name__)
    log.setLevel(logging.DEBUG)
    log.propagate = False  # the step log feeds ``marks`` only
    log.addHandler(marks)
    spec = json.loads(Path(spec_path).read_text())
    timing.totals(reset=True)
    t0, c0 = time.perf_counter(), time.process_time()
    extra = baseline(spec) if kind == "baseline" else ours(spec)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0  # CPU: every thread of this process
    steps, peak = timing.totals(reset=True), peak_rss_gib()
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": cpu,
                "steps": steps,
                "peak_rss_gib": peak,
                "peak_step": marks.peak_step(peak),
                **extra,
            }
        )
    )


def measure(kind: str, spec: dict[str, Any], layout: Layout, env: dict[str, str]) -> dict[str, Any]:
    """Run ``kind`` in a fresh subprocess on a fresh copy of the template store."""
    run_dir = layout.run(kind)
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    shutil.copytree(layout.template, layout.store(kind))
    spec_path = run_dir / "spec.json"
    spec_path.write_text(
        json.dumps(
            {**spec, "config": with_store(spec["config"], layout.store(kind)).as_config(), "run_dir": str(run_dir)}
        )
    )
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(spec_path)],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    if proc.returncode:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"bench_region: the {kind} job failed (exit {proc.returncode}); its stderr is above")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["startup_s"] = time.perf_counter() - start - result["wall_s"]
    return result


def agreement(config: Settings, rid: str, layout: Layout, snapshot_id: str) -> dict[str, float]:
    """Per variable: share of the region's pixels where the warm run and the baseline differ by
    more than 1e-6 (or in NaN-ness)."""
    rows, cols = config.region_grid().region_slices(rid)
    theirs = zarr.open_group(str(layout.run("baseline") / "baseline.zarr"), mode="r")
    ours_group = store.open_group_at(with_store(config, layout.store("ours_warm")), snapshot_id)
    out = {}
    for name in VARIABLES:
        a, b = np.asarray(ours_group[name][rows, cols]), np.asarray(theirs[name][...])
        with np.errstate(invalid="ignore"):
            same = (np.abs(a - b) <= 1e-6) | (np.isnan(a) & np.isnan(b))
        out[name] = float(1.0 - same.mean())
    return out


def projection(wall_s: float) -> list[dict[str, float]]:
    """CONUS (405 regions) on N workers like this machine, each running its regions one by one."""
    return [
        {
            "workers": n,
            "regions_each": math.ceil(CONUS_REGIONS / n),
            "hours": math.ceil(CONUS_REGIONS / n) * wall_s / 3600,
        }
        for n in WORKERS
    ]


def targets(warm: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": f"whole region <= {TARGET_WALL_S:.0f} s wall",
            "value": warm["wall_s"],
            "unit": "s",
            "pass": warm["wall_s"] <= TARGET_WALL_S,
        },
        {
            "name": f"peak RSS <= {TARGET_PEAK_GIB:.0f} GiB",
            "value": warm["peak_rss_gib"],
            "unit": "GiB",
            "pass": warm["peak_rss_gib"] <= TARGET_PEAK_GIB,
        },
    ]


def load_average() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Prepare (untimed), run the three jobs, compare; the whole result as a dict."""
    layout = Layout(Path(args.workdir) / ("quick" if args.quick else "full"))
    config, rid = bench_config(layout, args.region, args.quick)
    grid = config.region_grid()
    n_buildings = round(N_BUILDINGS * math.prod(grid.chunks) / (6000 * 4500))
    load_before = load_average()
    generated = prepare_inputs(config, rid, layout, args.seed, n_buildings)
    store.ensure_template(config, grid)  # once; every job copies it
    spec = {
        "config": config,
        "region": rid,
        "distribution": layout.input("distribution.tif"),
        "checks": {group: layout.check(group) for group in ("rasters", "buildings")},
    }
    shutil.rmtree(layout.numba_cache, ignore_errors=True)
    numba = {"NUMBA_CACHE_DIR": str(layout.numba_cache)}
    runs = {"baseline": measure("baseline", spec, layout, {})}
    runs["ours_first"] = measure("ours_first", spec, layout, numba)
    runs["ours_warm"] = measure("ours_warm", spec, layout, numba)
    warm = runs["ours_warm"]
    return {
        "region": rid,
        "quick": args.quick,
        "region_shape": list(grid.region_window(rid).shape),
        "window_shape": list(grid.buffered_window(rid, config.grid.buffer_px).shape),
        "buildings": n_buildings,
        "cores": os.cpu_count(),
        "workdir": str(layout.root),
        "inputs_generated_s": generated,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "runs": {kind: runs[kind] for kind in KINDS},
        "differing_pixels": agreement(config, rid, layout, warm["snapshot_id"]),
        "targets": targets(warm),
        "projection": projection(warm["wall_s"]),
    }


# ---- report -----------------------------------------------------------------------------------
def step_rows(runs: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, float | None]]]:
    """(step, kind → seconds or None) for every step seen, then "other" (wall minus the steps)."""
    seen = list(STEPS) + sorted({s for r in runs.values() for s in r["steps"]} - set(STEPS))
    rows = [
        (name, {k: r["steps"].get(name) for k, r in runs.items()})
        for name in seen
        if any(name in r["steps"] for r in runs.values())
    ]
    rows.append(("other", {k: r["wall_s"] - sum(r["steps"].values()) for k, r in runs.items()}))
    return rows


def cell(value: float | None, unit: str = "") -> str:
    return f"{'-' if value is None else f'{value:.2f}'}{unit:>4}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "-"


def print_report(result: dict[str, Any]) -> None:
    runs = result["runs"]
    (rows, cols), (wrows, wcols) = result["region_shape"], result["window_shape"]
    print(
        f"region {result['region']}: {rows:,} x {cols:,} px (window with buffer {wrows:,} x {wcols:,} px), both "
        f"climate runs, {result['buildings']:,} buildings; {result['cores']} cores; load average "
        f"{result['load_average_before']} before, {result['load_average_after']} after"
    )
    generated = result["inputs_generated_s"]
    print(
        f"inputs in {result['workdir']} ({f'generated in {generated:.0f} s' if generated else 'cached'}) and the "
        "store template: made before, not timed"
    )
    print(f"\n{'step':<14}" + "".join(f"{KINDS[k]:>20}" for k in runs) + f"{'ours/baseline':>16}")
    for name, secs in step_rows(runs):
        print(
            f"{name:<14}"
            + "".join(f"{cell(secs[k], ' s'):>20}" for k in runs)
            + f"{ratio(secs['ours_warm'], secs['baseline']):>16}"
        )
    for key, label, unit in (
        ("wall_s", "total wall", " s"),
        ("cpu_s", "CPU", " s"),
        ("peak_rss_gib", "peak RSS", " GiB"),
    ):
        print(
            f"{label:<14}"
            + "".join(f"{cell(r[key], unit):>20}" for r in runs.values())
            + f"{ratio(runs['ours_warm'][key], runs['baseline'][key]):>16}"
        )
    print(
        f"{'peak RSS in':<14}"
        + "".join(f"{r['peak_step']:>20}" for r in runs.values())
        + "   (that step or the unlabelled time just before it)"
    )
    print(
        f"{'start-up':<14}"
        + "".join(f"{cell(r['startup_s'], ' s'):>20}" for r in runs.values())
        + "   (interpreter, imports: not in the totals)"
    )
    print(
        f"numba compilation (first call - warm): {runs['ours_first']['wall_s'] - runs['ours_warm']['wall_s']:.1f} s; "
        f"buildings written: ours {runs['ours_warm']['buildings_written']:,}, baseline "
        f"{runs['baseline']['buildings_written']:,}"
    )
    print(
        "pixels where ours and the baseline differ (> 1e-6): "
        + ", ".join(f"{k} {v:.2%}" for k, v in result["differing_pixels"].items())
    )
    print(
        "  (GDAL's approximate transformer picks another native pixel near pixel edges; spreading and blur "
        "carry those differences into most wind-informed pixels)"
    )
    quick = "; quick size, the targets are for a full-size region" if result["quick"] else ""
    print(f"\ntargets (warm run; meant for an idle 2-core machine: see the load average{quick}):")
    for t in result["targets"]:
        print(f"  {t['name']}: {t['value']:.2f} {t['unit']} {'PASS' if t['pass'] else 'MISS'}")
    print(
        f"CONUS projection: {CONUS_REGIONS} regions at {runs['ours_warm']['wall_s']:.1f} s each, every worker "
        f"{result['cores']} cores like this machine (no wait for commits, no input reads from S3):"
    )
    for p in result["projection"]:
        print(f"  N = {p['workers']:>3} workers: {p['regions_each']:>3} regions each, {p['hours']:.2f} h")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="keeps inputs, template and runs for later runs (default: a temp dir)")
    parser.add_argument("--region", default=FULL_REGION, help=f"region of the published grid (default {FULL_REGION})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic inputs")
    parser.add_argument("--quick", action="store_true", help=f"a {QUICK_CHUNKS[0]} x {QUICK_CHUNKS[1]} px region")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of tables")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_region.") as tmp:
        args.workdir = args.workdir or tmp
        result = run(args)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
