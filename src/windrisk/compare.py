"""``windrisk compare``: how far a finished run is from the other method.

A run made with windrisk's method (``method.compat`` unset) is compared with the published
arithmetic (``ocr-v1.1.0``), and a compat run with windrisk's method: each region is computed
again in the other method from the same inputs and set against the values the store holds at its
sentinel's snapshot. Reported per variable: the largest and the median absolute difference over
pixels valid in both, the share of those pixels that differ by more than 1e-6, and pixels valid in
only one; per climate run, the share of the region's buildings whose 0–10 score changes.
``--each`` (from a windrisk run) also measures each published choice alone: the sizes in
docs/method.md's table of deviations.

    windrisk compare [--configfile config/config.yaml] [--regions y0_x1,y1_x1] [--each] [--json]

The medians over all regions use up to ``SAMPLE_PER_REGION`` evenly strided pixels of each region.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from windrisk import buildings, ocr_compat, store, wind
from windrisk.config import ConfigError
from windrisk.grid import RegionGrid
from windrisk.io import write_json_atomic
from windrisk.paths import RunPaths
from windrisk.settings import Settings, load_settings, selected_region_ids
from windrisk.variables import CLIMATE_RUNS

COMPARED = tuple(f"{kind}_{run}" for kind in ("bp", "rps") for run in CLIMATE_RUNS)
CHANGED = 1e-6  # absolute: below this two values count as equal (float32 BP, RPS in %)
SAMPLE_PER_REGION = 1_000_000
DEFAULT_METHOD = "windrisk"


def method_name(settings: Settings) -> str:
    """``method.compat`` as named in the config, or ``windrisk``."""
    return settings.method.compat or DEFAULT_METHOD


def other_method(settings: Settings) -> Settings:
    """``settings`` with the other method: compat when the run used windrisk's, and back."""
    return settings.updated({"method": {"compat": None if wind.method_compat(settings) else ocr_compat.OCR_V1_1_0}})


def variants(settings: Settings, each: bool) -> dict[str, ocr_compat.Deviations | None]:
    """Name → the choices each comparison computes the run's regions with (the other method first)."""
    other_settings = other_method(settings)
    other = wind.method_compat(other_settings)
    out = {method_name(other_settings): other}
    if each:
        if other is None:
            raise ValueError(
                "--each measures published choices against a windrisk run; this run is already "
                "ocr-v1.1.0. Fix: run it on a config without method.compat"
            )
        out.update({name: ocr_compat.only(name) for name in ocr_compat.NAMES})
    return out


def difference_stats(ran: np.ndarray, other: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
    """Two same-shape arrays → (max, median, share changed, valid in one only), and the absolute
    differences over pixels valid in both, strided to at most SAMPLE_PER_REGION."""
    both = np.isfinite(ran) & np.isfinite(other)
    diff = np.abs(ran[both].astype(np.float64) - other[both])
    stats = {
        "pixels": int(both.sum()),
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "median_abs": float(np.median(diff)) if diff.size else 0.0,
        "share_changed": float((diff > CHANGED).mean()) if diff.size else 0.0,
        "valid_in_one_only": int((np.isfinite(ran) != np.isfinite(other)).sum()),
    }
    return stats, diff[:: max(1, diff.size // SAMPLE_PER_REGION)]


def score_changes(table: Any, grid: RegionGrid, rid: str, other: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The region's building rows → per climate run, how many scores the other method changes
    (a score that becomes or stops being null counts as changed)."""
    points = table.column("geometry").combine_chunks()
    x = np.asarray(points.field("x"), dtype=np.float64)
    y = np.asarray(points.field("y"), dtype=np.float64)
    _, rows, cols = buildings.select_region(grid, rid, x, y)
    out: dict[str, Any] = {"buildings": table.num_rows}
    for run in CLIMATE_RUNS:
        ran = table.column(f"score_{run}").combine_chunks()
        again = buildings.score(other[f"rps_{run}"][rows, cols])
        same = np.asarray(ran.is_null()) & np.asarray(again.is_null())
        valued = np.asarray(ran.is_valid()) & np.asarray(again.is_valid())
        same[valued] = np.asarray(ran.filter(valued)) == np.asarray(again.filter(valued))
        out[f"score_{run}_changed"] = int((~same).sum())
    return out


@dataclass(frozen=True)
class FinishedRegion:
    """What a finished region holds: its sentinel, its stored values and its building rows."""

    region_id: str
    snapshot_id: str
    values: Mapping[str, np.ndarray] | None  # None: all NaN
    buildings: Any  # pyarrow table (geometry, scores) or None without a building file


def finished_region(settings: Settings, grid: RegionGrid, paths: RunPaths, rid: str) -> FinishedRegion:
    """Read a finished region once, for every comparison made with it."""
    sentinel = store.read_sentinel(store.sentinel_path(paths, rid))
    values = None if sentinel["all_nan"] else store.read_region(settings, grid, rid, sentinel["snapshot_id"])
    building_file = Path(paths.region(paths.region_buildings_pattern, rid))
    table = (
        pq.read_table(building_file, columns=["geometry", "score_2011", "score_2047"])
        if building_file.exists()
        else None
    )
    return FinishedRegion(rid, sentinel["snapshot_id"], values, table)


def compare_region(
    settings: Settings,
    grid: RegionGrid,
    ran: FinishedRegion,
    distribution: str,
    compat: ocr_compat.Deviations | None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A finished region against the region computed with ``compat`` → its report and the
    strided differences per variable."""
    rid = ran.region_id
    other = wind.compute_region(settings, grid, rid, distribution, compat)
    report: dict[str, Any] = {"region_id": rid, "snapshot_id": ran.snapshot_id}
    samples = {}
    for name in COMPARED:
        stored = np.full_like(other[name], np.nan) if ran.values is None else ran.values[name]
        report[name], samples[name] = difference_stats(stored, other[name])
    if ran.buildings is not None:
        report.update(score_changes(ran.buildings, grid, rid, other))
    return report, samples


def summary(regions: Sequence[Mapping[str, Any]], samples: Mapping[str, list[np.ndarray]]) -> dict[str, Any]:
    """Per-region reports and their strided differences → the run's figures."""
    out: dict[str, Any] = {}
    for name in COMPARED:
        pooled = np.concatenate(samples[name]) if samples[name] else np.zeros(0)
        out[name] = {
            "max_abs": max((r[name]["max_abs"] for r in regions), default=0.0),
            "median_abs": float(np.median(pooled)) if pooled.size else 0.0,
            "share_changed": float((pooled > CHANGED).mean()) if pooled.size else 0.0,
            "valid_in_one_only": sum(r[name]["valid_in_one_only"] for r in regions),
        }
    n = sum(r.get("buildings", 0) for r in regions)
    out["buildings"] = n
    for run in CLIMATE_RUNS:
        changed = sum(r.get(f"score_{run}_changed", 0) for r in regions)
        out[f"score_{run}_share_changed"] = changed / n if n else 0.0
    return out


def compare_run(settings: Settings, region_ids: Sequence[str], *, each: bool = False) -> dict[str, Any]:
    """The comparison of a finished run's ``region_ids`` with the other method (and, ``each``,
    with each published choice alone)."""
    grid = settings.region_grid()
    paths = RunPaths(settings.results)
    given = paths.wind_distribution if settings.inputs.wind.hourly else None
    distribution = wind.distribution_location(settings, given)
    done = [rid for rid in region_ids if store.sentinel_path(paths, rid).exists()]
    labels = variants(settings, each)
    reports: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    samples = {label: {name: [] for name in COMPARED} for label in labels}
    for rid in done:
        ran = finished_region(settings, grid, paths, rid)
        for label, compat in labels.items():
            report, sample = compare_region(settings, grid, ran, distribution, compat)
            reports[label].append(report)
            for name in COMPARED:
                samples[label][name].append(sample[name])
    results = {label: (summary(reports[label], samples[label]), reports[label]) for label in labels}
    other = next(iter(labels))  # variants lists the other method first
    out = {
        "run": method_name(settings),
        "other": other,
        "regions_compared": done,
        "regions_not_finished": [r for r in region_ids if r not in done],
        "summary": results[other][0],
        "by_region": results[other][1],
    }
    if each:
        out["each_published_choice_alone"] = {label: results[label][0] for label in ocr_compat.NAMES}
    return out


def report_path(settings: Settings) -> Path:
    return Path(RunPaths(settings.results).report_dir) / "compare-methods.json"


def format_summary(result: Mapping[str, Any]) -> str:
    s = result["summary"]
    head = f"{result['run']} run vs {result['other']}: {len(result['regions_compared'])} regions, {s['buildings']:,} buildings"
    lines = [head, "", f"{'variable':<10} {'max |diff|':>12} {'median |diff|':>14} {'pixels changed':>15}"]
    lines += [
        f"{name:<10} {s[name]['max_abs']:>12.3g} {s[name]['median_abs']:>14.3g} {s[name]['share_changed']:>14.1%}"
        for name in COMPARED
    ]
    lines += [""] + [
        f"buildings whose score_{run} changes: {s[f'score_{run}_share_changed']:.2%}" for run in CLIMATE_RUNS
    ]
    for label, s in result.get("each_published_choice_alone", {}).items():
        lines.append(
            f"only {label:<14} bp_2011 max {s['bp_2011']['max_abs']:.3g} median {s['bp_2011']['median_abs']:.3g} "
            f"pixels {s['bp_2011']['share_changed']:.1%}; scores 2011 {s['score_2011_share_changed']:.2%}"
        )
    if result["regions_not_finished"]:
        lines.append(f"not compared (no sentinel yet): {', '.join(result['regions_not_finished'])}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="windrisk compare", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml", help="workflow config (YAML)")
    parser.add_argument("--regions", default=None, help="comma-separated region ids (default: the run's)")
    parser.add_argument("--each", action="store_true", help="also measure each published choice alone")
    parser.add_argument("--json", action="store_true", help="print the JSON report")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.configfile, {"regions": args.regions} if args.regions else None)
        region_ids = selected_region_ids(settings, settings.region_grid(), base_dir=Path.cwd())
        result = compare_run(settings, region_ids, each=args.each)
    except (ConfigError, ValueError) as exc:
        print(f"windrisk compare: {exc}", file=sys.stderr)
        return 2
    write_json_atomic(report_path(settings), result)
    print(json.dumps(result, indent=2) if args.json else format_summary(result))
    print(f"\nwritten to {report_path(settings)}", file=sys.stderr)
    return 0
