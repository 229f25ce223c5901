"""``python -m windrisk.release X.Y.Z``: cut a release in the working tree (``make release VERSION=X.Y.Z``).

``pyproject.toml`` holds the one version (``windrisk.__version__`` reads it from the installed
metadata); the changelog's ``[Unreleased]`` notes become the ``[X.Y.Z] - <date>`` section under a
new, empty ``[Unreleased]``. Both files are rewritten atomically; committing and tagging are left
to the person releasing (the command prints them), after they have read the diff.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from pathlib import Path

from windrisk.io import atomic_path

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
PYPROJECT_VERSION = re.compile(r'^version = "([^"]+)"$', re.MULTILINE)
UNRELEASED = "## [Unreleased]"


class ReleaseError(ValueError):
    """The release cannot be cut; the message says why and what to do."""


def _parts(version: str) -> tuple[int, int, int]:
    match = SEMVER.match(version)
    if match is None:
        raise ReleaseError(f"version {version!r} is not MAJOR.MINOR.PATCH (e.g. 0.2.0)")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def current_version(pyproject: str) -> str:
    match = PYPROJECT_VERSION.search(pyproject)
    if match is None:
        raise ReleaseError('pyproject.toml has no line `version = "..."` under [project]')
    return match.group(1)


def bumped_pyproject(pyproject: str, new: str) -> str:
    old = current_version(pyproject)
    if _parts(new) <= _parts(old):
        raise ReleaseError(f"version {new} is not above the current {old}; give a higher version")
    return PYPROJECT_VERSION.sub(f'version = "{new}"', pyproject, count=1)


def released_changelog(changelog: str, new: str, on: date) -> str:
    """``[Unreleased]``'s notes under ``[new] - on``, below a new empty ``[Unreleased]``."""
    if changelog.count(UNRELEASED) != 1:
        raise ReleaseError(f"CHANGELOG.md must hold exactly one '{UNRELEASED}' heading")
    if f"## [{new}]" in changelog:
        raise ReleaseError(f"CHANGELOG.md already has a section for {new}")
    head, rest = changelog.split(UNRELEASED + "\n", 1)
    notes, sep, older = rest.partition("\n## [")
    if not notes.strip():
        raise ReleaseError("CHANGELOG.md's [Unreleased] section is empty: write the release notes first")
    section = f"{UNRELEASED}\n\n## [{new}] - {on.isoformat()}\n{notes.rstrip()}\n"
    return head + section + (f"\n## [{older}" if sep else "")


def release(root: Path, new: str, on: date) -> None:
    """Rewrite ``root``'s pyproject.toml and CHANGELOG.md for release ``new`` (both or neither)."""
    pyproject, changelog = root / "pyproject.toml", root / "CHANGELOG.md"
    texts = {
        pyproject: bumped_pyproject(pyproject.read_text(), new),
        changelog: released_changelog(changelog.read_text(), new, on),
    }
    for path, text in texts.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m windrisk.release", description=__doc__.splitlines()[0])
    parser.add_argument("version", help="the new version, MAJOR.MINOR.PATCH")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: the current dir)")
    args = parser.parse_args(argv)
    try:
        release(args.root, args.version, date.today())
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 2
    print(
        f"pyproject.toml and CHANGELOG.md now say {args.version}. Read `git diff`, then:\n"
        f"  git commit -am 'Release {args.version}' && git tag -a v{args.version} -m 'windrisk {args.version}'"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
