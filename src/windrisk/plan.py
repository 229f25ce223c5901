"""``windrisk plan``: per step, how many regions are done and how many the next run would run.

The numbers come from Snakemake itself (``snakemake --summary``: one row per output file with
its rule and plan, ``update pending`` or ``no update``), so they never disagree with what
``snakemake`` would do: the same rerun triggers, the same ``regions`` selection, the same
sentinel reconciliation at parse time. A job with several outputs is counted by its main one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

# step -> rules whose jobs it counts
STEPS: dict[str, tuple[str, ...]] = {
    "wind_region": ("wind_region",),
    "buildings_region": ("buildings_region",),
    "aggregate": ("aggregate_conus",),
    "summaries": ("summaries", "summary_tiles"),
    "tiles": ("pmtiles", "basemap", "map_page"),
}
# Rules with several outputs per job: the suffix of the one that stands for the job.
MAIN_OUTPUT: dict[str, str] = {"aggregate_conus": ".parquet", "summaries": "counties.parquet", "basemap": ".pmtiles"}
PENDING = "update pending"


class PlanError(RuntimeError):
    """Snakemake could not build the plan; the message carries its error output."""


@dataclass(frozen=True)
class StepPlan:
    """One step's count of outputs already done and still to run."""

    step: str
    done: int
    to_run: int

    @property
    def total(self) -> int:
        """Outputs of the step in this run: done plus to run."""
        return self.done + self.to_run


def summary_rows(text: str) -> list[dict[str, str]]:
    """Rows of ``snakemake --summary`` (tab-separated, header first) as dicts."""
    lines = [line for line in text.splitlines() if "\t" in line]
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]


def job_stats(output: str) -> dict[str, int]:
    """Jobs per rule from the first "Job stats" table a Snakemake run prints ({} if none)."""
    if "Job stats:" not in output:
        return {}
    counts: dict[str, int] = {}
    for line in output.split("Job stats:", 1)[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def plan_from_rows(rows: Iterable[dict[str, str]]) -> list[StepPlan]:
    """Count done / to-run outputs per step."""
    done = dict.fromkeys(STEPS, 0)
    to_run = dict.fromkeys(STEPS, 0)
    step_of = {rule: step for step, rules in STEPS.items() for rule in rules}
    for row in rows:
        rule = row.get("rule", "")
        step = step_of.get(rule)
        if step is not None and row.get("output_file", "").endswith(MAIN_OUTPUT.get(rule, "")):
            counter = to_run if row.get("plan") == PENDING else done
            counter[step] += 1
    return [StepPlan(step, done[step], to_run[step]) for step in STEPS]


def default_snakefile() -> Path:
    """``./Snakefile`` when present, else the one of this source tree."""
    here = Path("Snakefile")
    return here if here.exists() else Path(__file__).resolve().parents[2] / "Snakefile"


def snakemake_summary(snakefile: Path, args: Sequence[str]) -> str:
    """Run ``snakemake --summary`` and return its table (stdout)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--summary", *args]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PlanError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def plan(snakefile: Path, args: Sequence[str]) -> list[StepPlan]:
    """Per-step plan of the workflow as Snakemake sees it with ``args``."""
    return plan_from_rows(summary_rows(snakemake_summary(snakefile, args)))


def format_table(steps: Sequence[StepPlan]) -> str:
    """The plan as a fixed-width text table, one row per step."""
    lines = [f"{'step':<18}{'done':>8}{'to run':>8}{'total':>8}"]
    lines += [f"{s.step:<18}{s.done:>8}{s.to_run:>8}{s.total:>8}" for s in steps]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """``windrisk plan [--configfile F] [--directory D] [--json] [-- snakemake args]``."""
    parser = argparse.ArgumentParser(prog="windrisk plan", description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", help="workflow config (default: the Snakefile's)")
    parser.add_argument("--directory", "-d", help="working directory of the run")
    parser.add_argument("--snakefile", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("snakemake_args", nargs="*", help="passed to snakemake after '--'")
    args = parser.parse_args(argv)
    extra = [
        *(["--configfile", args.configfile] if args.configfile else []),
        *(["--directory", args.directory] if args.directory else []),
        *args.snakemake_args,
    ]
    try:
        steps = plan(args.snakefile or default_snakefile(), extra)
    except PlanError as exc:
        print(f"windrisk plan: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{**asdict(s), "total": s.total} for s in steps], indent=2))
    else:
        print(format_table(steps))
    return 0
