"""``windrisk inputs``: each input's product, where the config points, whether it is there, and the
steps that prepare a missing one (the catalogue of ``windrisk.sources``; docs/inputs.md in full).

    windrisk inputs [--configfile config/conus.yaml] [--json]
    windrisk inputs --configfile config/conus.yaml --markdown   # the sections of docs/inputs.md

Relative paths are taken from the current directory, as Snakemake takes them from its working
directory. Presence is checked with ``windrisk.inputs.identity`` (an S3 object's HEAD, a Zarr
store's metadata, an HTTP HEAD); a local file is only looked at, not hashed: its content is
identified and checked by the workflow's ``check_inputs`` rule. A demo input not made yet is
reported as made by the workflow (the ``demo_inputs`` rule), not as missing.

Exit status: 0 when every configured input is there (or made by the workflow), 1 when some are
missing, 2 on a usage or config error.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from windrisk.config import ConfigError, load_config
from windrisk.inputs import InputError, identity, is_remote
from windrisk.paths import produced_inputs
from windrisk.settings import Settings
from windrisk.sources import SOURCE_BY_KEY, SOURCES, Source, location_of, markdown, uncatalogued

PRESENT: Final = "present"
MISSING: Final = "missing"
MADE: Final = "made by the workflow"
NOT_SET: Final = "not set"


@dataclass(frozen=True)
class InputState:
    """One input of a config: its catalogue entry (None if it has none), location and status."""

    key: str
    source: Source | None
    location: str | None
    status: str
    detail: str
    synthetic: bool = False  # a demo input: the demo_inputs rule makes a stand-in for the product

    @property
    def product(self) -> str:
        if self.source is None:
            return "no entry in windrisk.sources: add one"
        return f"synthetic stand-in (demo) for {self.source.product}" if self.synthetic else self.source.product

    @property
    def config_key(self) -> str:
        return f"inputs.{self.key}"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.config_key,
            "location": self.location,
            "status": self.status,
            "detail": self.detail,
            "product": self.product,
        }
        if self.status == MISSING and self.source and self.location:
            out["prepare"] = self.source.steps(self.location)
        if self.source:
            out["source"] = self.source.as_dict()
        return out


def presence(location: str, produced: dict[str, str]) -> tuple[str, str]:
    """(status, detail) of one location: a local file by its size, anything else by its identity."""
    path = Path(location)
    if not is_remote(location) and path.is_file():
        return PRESENT, f"{path.stat().st_size:,} bytes (content checked by the check_inputs rule)"
    try:
        found = identity(location)
    except InputError as exc:
        if location in produced:
            return MADE, f"the {produced[location]} rule makes it when the workflow runs"
        return MISSING, str(exc)
    return PRESENT, ", ".join(f"{k} {v}" for k, v in found.items())


def input_states(config: dict[str, Any]) -> list[InputState]:
    """Every catalogued input and every input location the config sets, in catalogue order."""
    inputs = config["inputs"]
    produced = produced_inputs(Settings.from_resolved(config).demo)
    keys = [s.key for s in SOURCES] + uncatalogued(inputs)
    states = []
    for key in keys:
        location = location_of(inputs, key)
        status, detail = presence(location, produced) if location else (NOT_SET, "")
        states.append(InputState(key, SOURCE_BY_KEY.get(key), location, status, detail, location in produced))
    return states


def _indented(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in text.splitlines()]


def report(states: list[InputState], configfile: str) -> str:
    """The text report: one block per configured input, steps under the missing ones."""
    lines = [f"windrisk inputs: {configfile} (relative paths from {Path.cwd()})", ""]
    for state in (s for s in states if s.status != NOT_SET):
        lines += [
            f"{state.config_key}: {state.status}",
            f"  product:  {state.product}",
            f"  location: {state.location}",
        ]
        lines += [f"  {'problem' if state.status == MISSING else 'found'}:  {state.detail}"]
        if state.status == MISSING and state.source and state.location:
            lines += ["  prepare:"]
            for step in state.source.steps(state.location):
                lines += _indented(step, "    ")
            lines += ["  citation, licence, CRS, units, nodata: docs/inputs.md"]
        lines += [""]
    unset = [s.config_key for s in states if s.status == NOT_SET]
    if unset:
        lines += [f"not set in this config: {', '.join(unset)}"]
    counts = {status: sum(s.status == status for s in states) for status in (PRESENT, MADE, MISSING)}
    lines += ["; ".join(f"{n} {status}" for status, n in counts.items())]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="windrisk inputs", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml", help="workflow config (YAML)")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON instead of text")
    form.add_argument("--markdown", action="store_true", help="print every source as docs/inputs.md shows it")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.configfile)
        if args.markdown:
            print("\n".join(markdown(s, location_of(config["inputs"], s.key)) for s in SOURCES), end="")
            return 0
        states = input_states(config)
    except ConfigError as exc:
        print(f"windrisk inputs: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"configfile": args.configfile, "inputs": [s.as_dict() for s in states]}, indent=2))
    else:
        print(report(states, args.configfile))
    return 1 if any(s.status == MISSING for s in states) else 0
