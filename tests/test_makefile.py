"""`make dag`: a clear error without graphviz, and never an empty or partial docs/rulegraph.svg."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="needs GNU make")


def make_dag(workdir: Path, path: str) -> subprocess.CompletedProcess[str]:
    """The repository's `make dag` run in ``workdir`` (a copy of the Makefile and an empty docs/), so
    the svg lands in ``workdir/docs``. `-o` keeps make from installing a .venv there."""
    shutil.copy(REPO / "Makefile", workdir / "Makefile")
    (workdir / "docs").mkdir()
    bin_ = ".venv/bin"
    cmd = [MAKE, "-C", str(workdir), "-o", f"{bin_}/.installed", "dag", f"BIN={bin_}"]
    env = {**os.environ, "PATH": path}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_without_dot_it_says_install_graphviz(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = make_dag(tmp_path, str(empty))  # a PATH without dot (nor anything else)
    assert proc.returncode != 0
    assert "install graphviz (apt-get install graphviz)" in proc.stderr, proc.stderr
    assert list((tmp_path / "docs").iterdir()) == []
