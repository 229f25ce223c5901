"""Quick-look images and tables for the run report (``snakemake --report report.html``).

Per region, ``rps_2011`` and ``rps_2047`` read from the store at the region sentinel's snapshot;
a CONUS overview mosaicked from every region read decimated (memory bounded by one region);
the distribution of building scores streamed column-wise from the CONUS GeoParquet; and the
per-rule benchmark table. Images are north up whatever the grid's row order.
"""

from __future__ import annotations

import csv
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow.parquet as pq
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from windrisk.grid import RegionGrid, Window
from windrisk.io import atomic_path
from windrisk.variables import CLIMATE_RUNS, VARIABLES

if TYPE_CHECKING:
    import zarr

    from windrisk.settings import Settings

RPS_VARIABLES: tuple[str, ...] = tuple(f"rps_{run}" for run in CLIMATE_RUNS)
N_SCORES = 11  # scores 0..10
OVERVIEW_MAX_PX = 1600
QUICKLOOK_MAX_PX = 500  # the PNG shows ~500 px per panel; more would only bloat the report
BENCHMARK_COLUMNS = ("rule", "jobs", "total_s", "mean_s", "max_s", "max_rss_mb", "cpu_s")


# ---- reading ------------------------------------------------------------------------------------
def block_mean(array: np.ndarray, step: int) -> np.ndarray:
    """Mean of each ``step`` x ``step`` block ignoring NaN (NaN where a block has no value).

    Blocks start at the array's first row and column; the last ones may be partial.
    """
    if step == 1:
        return np.asarray(array, dtype=np.float32)
    pad = ((0, -array.shape[0] % step), (0, -array.shape[1] % step))
    padded = np.pad(array, pad, constant_values=np.nan)
    blocks = padded.reshape(padded.shape[0] // step, step, padded.shape[1] // step, step)
    valid = np.isfinite(blocks)
    total = np.where(valid, blocks, 0).sum(axis=(1, 3), dtype=np.float64)
    count = valid.sum(axis=(1, 3))
    with np.errstate(invalid="ignore"):  # 0 / 0 -> NaN for blocks with no value
        return (total / count).astype(np.float32)


def read_region_reduced(
    group: zarr.Group,
    grid: RegionGrid,
    rid: str,
    step: int = 1,
    names: Sequence[str] = RPS_VARIABLES,
) -> dict[str, np.ndarray]:
    """``names`` of one region from the store's root ``group``, block-averaged by ``step``.

    Reads only the region's chunk of each named variable, one variable at a time, so memory
    stays at one chunk however large the run.
    """
    rows, cols = grid.region_slices(rid)
    return {name: block_mean(np.asarray(group[name][rows, cols], np.float32), step) for name in names}


def snapshot_of(sentinel: str | Path) -> str:
    """The store snapshot a region sentinel points at."""
    from windrisk.store import read_sentinel

    return str(read_sentinel(sentinel)["snapshot_id"])


# ---- plotting -----------------------------------------------------------------------------------
def north_up(array: np.ndarray, grid: RegionGrid) -> np.ndarray:
    """The array with its first row the northern-most (grid rows may ascend northward)."""
    return np.flipud(array) if grid.rows_ascend_north else array


def extent_of(grid: RegionGrid, window: Window) -> tuple[float, float, float, float]:
    """``imshow`` extent (left, right, bottom, top) of a window's pixel edges."""
    left, bottom, right, top = grid.window_bounds(window)
    return left, right, bottom, top


def colour_limit(arrays: Iterable[np.ndarray], percentile: float = 99.5) -> float:
    """A shared upper colour limit: a high percentile of all finite values (1.0 if none)."""
    finite = [a[np.isfinite(a)] for a in arrays]
    values = np.concatenate(finite) if finite else np.empty(0)
    if values.size == 0:
        return 1.0
    top = float(np.percentile(values, percentile))
    return top if top > 0 else max(float(values.max()), 1e-12)


def plot_rps_pair(
    arrays: Mapping[str, np.ndarray],
    extent: tuple[float, float, float, float],
    title: str,
    out_png: str | Path,
) -> Path:
    """Side-by-side maps of ``arrays`` (north-up) on one colour scale, written to ``out_png``."""
    names = list(arrays)
    vmax = colour_limit(arrays.values())
    width, height = extent[1] - extent[0], extent[3] - extent[2]
    panel_w = 5.0
    panel_h = float(np.clip(panel_w * height / width, 2.5, 8.0))
    # Figure objects, not pyplot: no global state or GUI backend in batch jobs.
    fig = Figure(figsize=(panel_w * len(names) + 1.2, panel_h + 1.0), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)
    cmap = colormaps["magma_r"].with_extremes(bad="#d0d4da")  # NaN (no data / water) in grey
    image = None
    for ax, name in zip(axes[0], names, strict=True):
        image = ax.imshow(
            np.ma.masked_invalid(arrays[name]),
            extent=extent,
            origin="upper",
            cmap=cmap,
            vmin=0.0,
            vmax=vmax,
            interpolation="nearest",
        )
        ax.set_title(name)
        ax.set_xlabel("longitude")
        ax.xaxis.set_major_locator(MaxNLocator(4))  # long labels like -122.66 collide otherwise
        ax.set_aspect(1 / math.cos(math.radians((extent[2] + extent[3]) / 2)))  # ~equal ground distance
    axes[0][0].set_ylabel("latitude")
    units = VARIABLES[names[0]][0] if names[0] in VARIABLES else ""
    fig.colorbar(image, ax=axes[0].tolist(), label=f"{names[0].split('_')[0]} ({units})", shrink=0.85)
    fig.suptitle(title)
    return save_figure(fig, out_png)


def save_figure(fig: Figure, out_png: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG via a temp file."""
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(out_png)


def whole_blocks(window: Window, step: int) -> Window:
    """``window`` grown to whole ``step``-pixel blocks (the area a block-averaged image covers)."""
    rows, cols = (math.ceil(n / step) * step for n in window.shape)
    return Window(window.row_start, window.row_start + rows, window.col_start, window.col_start + cols)


def quicklook_region(
    settings: Settings,
    grid: RegionGrid,
    rid: str,
    sentinel: str | Path,
    out_png: str | Path,
    max_px: int = QUICKLOOK_MAX_PX,
) -> Path:
    """The region's rps_2011 and rps_2047 at the sentinel's snapshot, at most ``max_px`` on a side."""
    from windrisk.store import open_group_at

    snapshot = snapshot_of(sentinel)
    window = grid.region_window(rid)
    step = max(1, math.ceil(max(window.shape) / max_px))
    arrays = read_region_reduced(open_group_at(settings, snapshot), grid, rid, step)
    shown = {name: north_up(a, grid) for name, a in arrays.items()}
    title = f"Region {rid}{averaged(step)} (snapshot {snapshot[:10]})"
    return plot_rps_pair(shown, extent_of(grid, whole_blocks(window, step)), title, out_png)


def averaged(step: int) -> str:
    """Title suffix saying how many pixels each image pixel averages ("" when none)."""
    return f", {step} x {step} px averaged" if step > 1 else ""


@dataclass(frozen=True)
class Mosaic:
    """The block-averaged frame covering a set of regions: grid window and block size."""

    window: Window
    step: int

    @classmethod
    def covering(cls, grid: RegionGrid, region_ids: Sequence[str], max_px: int = OVERVIEW_MAX_PX) -> Mosaic:
        """The regions' bounding window and the smallest block that fits it in ``max_px``.

        The block divides both chunk sizes, so no block straddles two regions (blocks may then
        come out a little smaller than ``max_px`` asks; at worst the block is the chunks' gcd).
        """
        windows = [grid.region_window(rid) for rid in region_ids]
        window = Window(
            min(w.row_start for w in windows),
            max(w.row_stop for w in windows),
            min(w.col_start for w in windows),
            max(w.col_stop for w in windows),
        )
        need = math.ceil(max(window.shape) / max_px)
        common = math.gcd(*grid.chunks)
        step = next((d for d in range(max(need, 1), common + 1) if common % d == 0), common)
        return cls(window, step)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the block-averaged mosaic."""
        return math.ceil(self.window.shape[0] / self.step), math.ceil(self.window.shape[1] / self.step)

    def offset(self, window: Window) -> tuple[int, int]:
        """Where a region's block-averaged array starts in the mosaic."""
        return (
            (window.row_start - self.window.row_start) // self.step,
            (window.col_start - self.window.col_start) // self.step,
        )


def overview_frames(
    settings: Settings,
    grid: RegionGrid,
    sentinels: Mapping[str, str | Path],
    mosaic: Mosaic,
) -> dict[str, np.ndarray]:
    """rps_2011 and rps_2047 of all regions block-averaged into the mosaic (grid row order).

    The store is opened once for all regions (``store.region_groups``): opening it per region
    cost ~2.3 s each on S3 (405 CONUS regions: ~16 min). 48 regions, loaded 2-core machine:
    local store 20.0 s -> 3.4 s, moto S3 192 s -> 30 s.
    """
    from windrisk.store import region_groups

    frames = {name: np.full(mosaic.shape, np.nan, dtype=np.float32) for name in RPS_VARIABLES}
    snapshots = {rid: snapshot_of(sentinel) for rid, sentinel in sentinels.items()}
    for rid, group in region_groups(settings, snapshots):  # one region in memory at a time
        arrays = read_region_reduced(group, grid, rid, mosaic.step)
        r, c = mosaic.offset(grid.region_window(rid))
        for name, array in arrays.items():
            frames[name][r : r + array.shape[0], c : c + array.shape[1]] = array
    return frames


def overview(
    settings: Settings,
    grid: RegionGrid,
    sentinels: Mapping[str, str | Path],
    out_png: str | Path,
    max_px: int = OVERVIEW_MAX_PX,
) -> Path:
    """All regions' rps_2011 and rps_2047 mosaicked, about ``max_px`` pixels on the long side."""
    mosaic = Mosaic.covering(grid, list(sentinels), max_px)
    frames = overview_frames(settings, grid, sentinels, mosaic)
    shown = {name: north_up(a, grid) for name, a in frames.items()}
    title = f"All {len(sentinels)} regions{averaged(mosaic.step)}"
    extent = extent_of(grid, whole_blocks(mosaic.window, mosaic.step))
    return plot_rps_pair(shown, extent, title, out_png)


# ---- building scores ----------------------------------------------------------------------------
def score_counts(parquet: str | Path, runs: Sequence[str] = CLIMATE_RUNS) -> dict[str, np.ndarray]:
    """Per climate run, the count of buildings at each score 0..10 and, last, with no score."""
    columns = [f"score_{run}" for run in runs]
    counts = {run: np.zeros(N_SCORES + 1, dtype=np.int64) for run in runs}
    for batch in pq.ParquetFile(parquet).iter_batches(columns=columns, batch_size=1 << 20):
        for run, column in zip(runs, columns, strict=True):
            values = batch.column(column)
            valid = np.asarray(values.drop_null(), dtype=np.int64)
            if valid.size and (valid.min() < 0 or valid.max() >= N_SCORES):
                raise ValueError(f"{parquet}: {column} holds values outside 0..10")
            counts[run][:N_SCORES] += np.bincount(valid, minlength=N_SCORES)
            counts[run][N_SCORES] += values.null_count
    return counts


def plot_score_distribution(counts: Mapping[str, np.ndarray], out_png: str | Path) -> Path:
    """Grouped bars of building counts per score (and no score) for each climate run."""
    labels = [str(s) for s in range(N_SCORES)] + ["none"]
    x = np.arange(len(labels))
    width = 0.8 / max(len(counts), 1)
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    for i, (run, values) in enumerate(counts.items()):
        ax.bar(x + (i - (len(counts) - 1) / 2) * width, values, width, label=f"{run} climate run")
    total = int(next(iter(counts.values())).sum()) if counts else 0
    ax.set_xticks(x, labels)
    ax.set_xlabel("wind-informed risk score")
    ax.set_ylabel("buildings")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Building scores ({total:,} buildings)")
    ax.legend()
    return save_figure(fig, out_png)


# ---- benchmarks ---------------------------------------------------------------------------------
def _number(value: str) -> float:
    """A benchmark TSV field as a float; NaN for "NA" and other non-numbers."""
    try:
        return float(value)
    except ValueError:  # Snakemake writes "NA" where a measure is unavailable
        return math.nan


def _finite_stat(reduce: Callable[[np.ndarray], Any], values: np.ndarray, digits: int) -> float:
    """``reduce`` (NaN-skipping) of ``values`` rounded to ``digits``; NaN when none is finite."""
    return round(float(reduce(values)), digits) if np.isfinite(values).any() else math.nan


def benchmark_summary(benchmark_dir: str | Path) -> list[dict[str, Any]]:
    """One row per rule from ``<benchmark_dir>/<rule>/*.tsv``: jobs, wall seconds, peak RSS, CPU."""
    rows = []
    for rule_dir in sorted(p for p in Path(benchmark_dir).iterdir() if p.is_dir()):
        records = []
        for tsv in sorted(rule_dir.glob("*.tsv")):
            with tsv.open(newline="") as f:
                records += list(csv.DictReader(f, delimiter="\t"))
        if not records:
            continue
        wall = np.array([_number(r.get("s", "NA")) for r in records])
        rss = np.array([_number(r.get("max_rss", "NA")) for r in records])
        cpu = np.array([_number(r.get("cpu_time", "NA")) for r in records])
        rows.append(
            {
                "rule": rule_dir.name,
                "jobs": len(records),
                "total_s": round(float(np.nansum(wall)), 2),
                "mean_s": _finite_stat(np.nanmean, wall, 2),
                "max_s": _finite_stat(np.nanmax, wall, 2),
                "max_rss_mb": _finite_stat(np.nanmax, rss, 1),
                "cpu_s": round(float(np.nansum(cpu)), 2),
            }
        )
    return rows


def write_benchmark_csv(rows: Sequence[Mapping[str, Any]], out_csv: str | Path) -> Path:
    """Write the ``benchmark_summary`` rows as CSV with ``BENCHMARK_COLUMNS``; return the path."""
    with atomic_path(out_csv) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=BENCHMARK_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return Path(out_csv)


def write_benchmark_html(rows: Sequence[Mapping[str, Any]], out_html: str | Path) -> Path:
    """A standalone HTML table of the ``benchmark_summary`` rows."""
    note = "Wall and CPU seconds summed over a rule's jobs; max_rss_mb is the largest job's peak."
    return write_html_table(BENCHMARK_COLUMNS, rows, "Benchmarks per rule", note, out_html)


def write_html_table(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]], title: str, note: str, out_html: str | Path
) -> Path:
    """A standalone HTML table (the report shows HTML files inline); written atomically."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    cells = ("".join(f"<td>{html.escape(str(row[c]))}</td>" for c in columns) for row in rows)
    body = "".join(f"<tr>{tds}</tr>" for tds in cells)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font:13px system-ui,sans-serif}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}</style></head><body>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + (f"<p>{html.escape(note)}</p>" if note else "")
        + "</body></html>\n"
    )
    with atomic_path(out_html) as tmp:
        tmp.write_text(page)
    return Path(out_html)


def accounting_rows(accounting: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``aggregate.accounting`` summary as (what, buildings) rows, dropped reasons one per row."""
    rows = [
        {"what": "rows in the buildings input", "buildings": f"{accounting['input_rows']:,}"},
        {"what": "written (CONUS GeoParquet)", "buildings": f"{accounting['written']:,}"},
    ]
    for key, label in (("dropped_in_regions", "dropped"), ("dropped_without_location", "dropped, no location")):
        rows += [
            {"what": f"{label}: {reason.replace('_', ' ')}", "buildings": f"{n:,}"}
            for reason, n in accounting[key].items()
            if n
        ]
    for key in ("outside_grid", "in_regions_not_in_this_run", "repaired_invalid_kept"):
        rows.append({"what": key.replace("_", " "), "buildings": f"{accounting[key]:,}"})
    return rows
