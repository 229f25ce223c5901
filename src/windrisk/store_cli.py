"""``windrisk store status|verify|adopt|gc|commit-waiting``: inspect, adopt from and tidy the Icechunk store of a run."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from windrisk import store
from windrisk.config import ConfigError
from windrisk.grid import RegionGrid
from windrisk.paths import RunPaths
from windrisk.rasters import InputError
from windrisk.settings import Settings, load_settings, selected_region_ids

AGE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks", "": "days"}
STATUS_SHOWN = 12  # region ids `store status` lists per state (all of them with --json)


def parse_age(text: str) -> timedelta:
    """'7d', '12h', '30m', '90s', '2w' or a bare number of days → timedelta."""
    match = AGE_PATTERN.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"--older-than {text!r}: use a number with s, m, h, d or w, e.g. 7d")
    return timedelta(**{AGE_UNITS[match.group(2)]: float(match.group(1))})


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` (dotted keys nest, values are YAML) → nested dict, like snakemake --config."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--config {item!r}: expected key=value, e.g. store.url=results/store.icechunk")
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The ``status``, ``verify`` and ``gc`` sub-commands, each with --configfile and --config."""
    parser = argparse.ArgumentParser(prog="windrisk store", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--configfile", default="config/config.yaml", help="workflow config (YAML)")
    common.add_argument(
        "--config",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides, e.g. store.url=/data/store.icechunk (dotted keys nest)",
    )
    # Both texts describe what cmd_status prints; keep them in step with it.
    status = sub.add_parser(
        "status",
        parents=[common],
        help="how many regions are done / missing / stale / unrecorded, and which",
        description="Print the store URL, branch and number of regions, then per state (done, missing, stale, "
        f"unrecorded) how many regions and the first {STATUS_SHOWN} of their ids, then why each stale region is "
        "stale. Always exits 0.",
    )
    status.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead: store_url, branch, counts (regions per state) and regions "
        "(each region's region_id, state, snapshot_id, reason and sentinel)",
    )
    verify = sub.add_parser("verify", parents=[common], help="check every sentinel against the store")
    verify.add_argument("--json", action="store_true")
    adopt = sub.add_parser(
        "adopt",
        parents=[common],
        help="rewrite missing sentinels of regions the store holds with this run's provenance",
    )
    adopt.add_argument("--dry-run", action="store_true", help="report what would be adopted, write nothing")
    gc = sub.add_parser(
        "gc",
        parents=[common],
        help="expire old snapshots and delete unreachable objects; "
        "refused while a run writes (never run it during a run)",
    )
    gc.add_argument(
        "--older-than",
        type=parse_age,
        default=timedelta(days=7),
        help="age cutoff (default 7d); never cuts into snapshots that sentinels name, nor into "
        "the last store.gc.safety_window_s",
    )
    gc.add_argument("--dry-run", action="store_true", help="report what would be deleted, delete nothing")
    sub.add_parser(
        "commit-waiting",
        parents=[common],
        help="commit regions whose jobs handed them over but were killed before they landed",
    )
    return parser


def _load(args: argparse.Namespace) -> tuple[Settings, RegionGrid, RunPaths, list[str]]:
    """The resolved settings, their grid, run paths and selected regions (relative to the cwd)."""
    settings = load_settings(args.configfile, parse_overrides(args.config))
    grid = settings.region_grid()
    return settings, grid, RunPaths(settings.results), selected_region_ids(settings, grid, base_dir=Path.cwd())


def cmd_status(args: argparse.Namespace) -> int:
    """Print how many regions are done, missing, stale or unrecorded (always exit 0)."""
    settings, grid, paths, rids = _load(args)
    states = store.region_status(settings, grid, rids, paths)
    counts = Counter(s.state for s in states)
    if args.json:
        print(
            json.dumps(
                {
                    "store_url": settings.store.url,
                    "branch": settings.store.branch,
                    "counts": {k: counts.get(k, 0) for k in store.STATES},
                    "regions": [vars(s) for s in states],
                },
                indent=1,
            )
        )
        return 0
    print(f"store {settings.store.url} branch {settings.store.branch}: {len(states)} regions")
    for state in store.STATES:
        ids = [s.region_id for s in states if s.state == state]
        shown = ", ".join(ids[:STATUS_SHOWN]) + (" …" if len(ids) > STATUS_SHOWN else "")
        print(f"  {state:<10} {len(ids):>6}  {shown}")
    for s in states:
        if s.state == "stale":
            print(f"  stale {s.region_id}: {s.reason}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check every present sentinel against the store; exit 1 when any fails."""
    settings, grid, paths, rids = _load(args)
    results = store.verify_regions(settings, grid, paths, rids)
    failed = [r for r in results if not r.ok]
    if args.json:
        print(json.dumps({"checked": len(results), "failed": [vars(r) for r in failed]}, indent=1))
    else:
        for r in failed:
            print(f"FAIL {r.region_id}: {r.reason}")
        print(
            f"verified {len(results) - len(failed)} of {len(results)} region sentinels"
            f" ({len(rids) - len(results)} regions have no sentinel)"
        )
    return 1 if failed else 0


def cmd_adopt(args: argparse.Namespace) -> int:
    """Adopt regions whose sentinel is missing but whose result the store holds (same inputs,
    config and code); exit 1 when some missing region cannot be adopted (it must be recomputed)."""
    settings, grid, paths, rids = _load(args)
    expected = store.expected_provenance(settings, paths)
    if expected is None:
        print(
            "windrisk store adopt: an input cannot be identified yet (not made, or not reachable); nothing adopted",
            file=sys.stderr,
        )
        return 1
    results = store.adopt_regions(settings, grid, paths, rids, expected, dry_run=args.dry_run)
    verb = "would adopt" if args.dry_run else "adopted"
    for r in results:
        print(f"{verb} {r.region_id} ({r.snapshot_id})" if r.adopted else f"not {r.region_id}: {r.reason}")
    done = sum(r.adopted for r in results)
    print(f"{verb} {done} of {len(results)} regions without a sentinel")
    return 0 if done == len(results) else 1


def cmd_gc(args: argparse.Namespace) -> int:
    """Expire old snapshots and collect garbage; print the report as JSON."""
    settings, grid, paths, rids = _load(args)
    report = store.collect_garbage(settings, grid, paths, rids, args.older_than, dry_run=args.dry_run)
    print(json.dumps(report, indent=1, default=str))
    return 0


def cmd_commit_waiting(args: argparse.Namespace) -> int:
    """Commit what killed region jobs handed over; adopt then rewrites their sentinels."""
    settings, *_ = _load(args)
    print(
        f"committed {store.commit_waiting(settings)} waiting region(s); `windrisk store adopt` writes their sentinels"
    )
    return 0


COMMANDS = {
    "status": cmd_status,
    "verify": cmd_verify,
    "adopt": cmd_adopt,
    "gc": cmd_gc,
    "commit-waiting": cmd_commit_waiting,
}


def main(argv: list[str] | None = None) -> int:
    """``windrisk store``: exit 2 with the message on a config or store error."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return COMMANDS[args.action](args)
    except (ConfigError, store.StoreError, InputError) as exc:
        print(f"windrisk store {args.action}: {exc}", file=sys.stderr)
        return 2
