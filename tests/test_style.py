"""The code is formatted as `make lint` formats it: `ruff format` for Python, `snakefmt` for the rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent
PYTHON_TREES = ("src", "tests", "scripts", "benchmarks")
SNAKEMAKE_FILES = ("Snakefile", "rules")


def _check(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_python_is_ruff_formatted() -> None:
    proc = _check([str(BIN / "ruff"), "format", "--check", *PYTHON_TREES])
    assert proc.returncode == 0, f"run `make format` ({proc.stdout}{proc.stderr})"


def test_rules_are_snakefmt_formatted() -> None:
    proc = _check([str(BIN / "snakefmt"), "--check", *SNAKEMAKE_FILES])
    assert proc.returncode == 0, f"run `make format` ({proc.stdout}{proc.stderr})"
