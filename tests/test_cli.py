"""The ``windrisk`` dispatcher: --version, usage on a bare call, --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

import windrisk
from windrisk import cli


def windrisk_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    """``windrisk <args>`` as a user runs it (a fresh interpreter, exit code and both streams)."""
    cmd = [sys.executable, "-m", "windrisk.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_version_prints_the_package_version() -> None:
    proc = windrisk_cmd("--version")
    assert proc.returncode == 0 and proc.stdout == f"windrisk {windrisk.__version__}\n" and proc.stderr == ""


def test_no_arguments_is_a_usage_error_on_stderr() -> None:
    # A bare call is a mistake, not a request for help: exit 2 and usage on stderr, as argparse does.
    proc = windrisk_cmd()
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: windrisk") and "store" in proc.stderr


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_goes_to_stdout(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([flag]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: windrisk") and "--version" in out and err == ""
