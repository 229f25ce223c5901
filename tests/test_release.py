"""Releases: one version in pyproject.toml, carried by the package and by the changelog."""

from __future__ import annotations

import shutil
import tomllib
from datetime import date
from pathlib import Path

import pytest
from conftest import REPO

import windrisk
from windrisk.release import ReleaseError, current_version, main


def test_the_package_the_metadata_and_the_changelog_agree_on_the_version() -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert windrisk.__version__ == version  # read from the installed metadata
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert f"## [{version}] - " in changelog and changelog.count("## [Unreleased]") == 1


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "CHANGELOG.md"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def test_a_release_moves_the_notes_under_the_new_version(repo_copy: Path, capsys) -> None:
    before = (repo_copy / "CHANGELOG.md").read_text()
    notes = before.split("## [Unreleased]\n", 1)[1].split("\n## [", 1)[0].strip()
    old = current_version((repo_copy / "pyproject.toml").read_text())
    major, minor, _ = (int(p) for p in old.split("."))
    new = f"{major}.{minor + 1}.0"
    assert main([new, "--root", str(repo_copy)]) == 0
    assert f"git tag -a v{new}" in capsys.readouterr().out
    assert tomllib.loads((repo_copy / "pyproject.toml").read_text())["project"]["version"] == new
    after = (repo_copy / "CHANGELOG.md").read_text()
    unreleased, released = after.split(f"## [{new}] - {date.today().isoformat()}\n", 1)
    assert unreleased.rstrip().endswith("## [Unreleased]")  # a new, empty section on top
    assert released.split("\n## [", 1)[0].strip() == notes and f"## [{old}]" in released
    assert main([new, "--root", str(repo_copy)]) == 2  # now empty, and not above itself


@pytest.mark.parametrize(
    ("version", "why"),
    [("0.1", "MAJOR.MINOR.PATCH"), ("v0.2.0", "MAJOR.MINOR.PATCH"), ("0.0.9", "not above the current")],
)
def test_a_bad_version_changes_nothing(repo_copy: Path, version: str, why: str, capsys) -> None:
    before = {p.name: p.read_bytes() for p in repo_copy.iterdir()}
    assert main([version, "--root", str(repo_copy)]) == 2
    assert why in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in repo_copy.iterdir()} == before


def test_empty_notes_are_refused(repo_copy: Path) -> None:
    changelog = repo_copy / "CHANGELOG.md"
    head, rest = changelog.read_text().split("## [Unreleased]\n", 1)
    changelog.write_text(head + "## [Unreleased]\n\n## [" + rest.split("\n## [", 1)[1])
    from windrisk.release import release

    with pytest.raises(ReleaseError, match="empty"):
        release(repo_copy, "9.0.0", date.today())
