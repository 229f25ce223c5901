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


def make_dag(workdir: Path, path: str, bin_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The repository's `make dag` run in ``workdir`` (a copy of the Makefile and an empty docs/), so
    the svg lands in ``workdir/docs``. `-o` keeps make from installing a .venv there."""
    shutil.copy(REPO / "Makefile", workdir / "Makefile")
    (workdir / "docs").mkdir()
    bin_ = str(bin_dir or ".venv/bin")
    cmd = [MAKE, "-C", str(workdir), "-o", f"{bin_}/.installed", "dag", f"BIN={bin_}"]
    env = {**os.environ, "PATH": path}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)


def script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def test_without_dot_it_says_install_graphviz(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = make_dag(tmp_path, str(empty))  # a PATH without dot (nor anything else)
    assert proc.returncode != 0
    assert "install graphviz (apt-get install graphviz)" in proc.stderr, proc.stderr
    assert list((tmp_path / "docs").iterdir()) == []


@pytest.mark.parametrize(("snakemake_rc", "dot_rc"), [(0, 1), (1, 0), (0, 0)])
def test_a_failed_step_leaves_no_svg(tmp_path: Path, snakemake_rc: int, dot_rc: int) -> None:
    """Stand-ins for snakemake and dot print part of their output, then exit with the given code."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script(bin_dir / "snakemake", f"echo 'digraph {{ a -> b }}'; exit {snakemake_rc}")
    script(bin_dir / "dot", f"cat >/dev/null; echo '<svg>partial'; exit {dot_rc}")
    proc = make_dag(tmp_path, f"{bin_dir}:/usr/bin:/bin", bin_dir)
    written = {p.name: p.read_text() for p in (tmp_path / "docs").iterdir()}
    if snakemake_rc or dot_rc:
        assert proc.returncode != 0 and written == {}
    else:
        assert proc.returncode == 0, proc.stderr
        assert written == {"rulegraph.svg": "<svg>partial\n"}
