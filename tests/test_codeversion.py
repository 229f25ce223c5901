"""Stage code versions (windrisk.codeversion): which modules a stage's script runs, which edits
count, and that every rule running package code passes its script's version. The reruns these
versions cause in a real run are in test_rerun.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, demo_config_in

from windrisk import codeversion, store
from windrisk.codeversion import PackageCode, stage_version

# A package `pkg` and a stage script: os, json and numpy are not followed, pkg.c is imported only
# inside a function, pkg.a and pkg.b import each other, pkg.sub.e imports relatively.
FILES = {
    "pkg/__init__.py": "",
    "pkg/a.py": '"""Module a."""\nimport os\n\nfrom pkg import b\n\n\ndef f():\n'
    '    """Lazy."""\n    from pkg.c import thing  # at call time\n\n    return thing + os.sep\n',
    "pkg/b.py": "from pkg.a import f\n",
    "pkg/c.py": "import numpy\n\nimport pkg.sub.e\n\nthing = 1\n",
    "pkg/sub/__init__.py": "",
    "pkg/sub/e.py": "from .f import g\n",
    "pkg/sub/f.py": "g = 2\n",
    "pkg/unused.py": "x = 3\n",
    "stage.py": "import json\n\nfrom pkg.a import f\n\nprint(json.dumps(f()))\n",
}
STAGE_MODULES = {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.sub", "pkg.sub.e", "pkg.sub.f"}
# Rules whose re-running would hide the jobs behind them from a dry run, so a code_version there
# would hide those jobs' own code changes: outputs read as ancient(), and the demo checkpoint.
NO_CODE_VERSION = {"store_template", "check_inputs", "demo_inputs"}


def make(root: Path, edits: dict[str, str] | None = None) -> tuple[Path, Path]:
    """(package dir, stage script) of FILES, with ``edits`` (path → new text) applied, under ``root``."""
    for name, text in {**FILES, **(edits or {})}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "pkg", root / "stage.py"


def version(root: Path, edits: dict[str, str] | None = None) -> str:
    package, script = make(root, edits)
    return stage_version(script, package)


def test_closure_follows_lazy_relative_and_cyclic_imports_of_the_package_only(tmp_path: Path) -> None:
    package, script = make(tmp_path)
    assert set(PackageCode(package).closure(script)) == STAGE_MODULES


def test_comment_docstring_and_layout_edits_keep_the_version(tmp_path: Path) -> None:
    a = FILES["pkg/a.py"].replace('"""Lazy."""', '"""Lazy, and\n    documented."""').replace("# at call time", "")
    edits = {"pkg/a.py": f"# a new comment\n{a}\n\n", "pkg/sub/f.py": '"""Now documented."""\n\ng = 2  # two\n'}
    assert version(tmp_path / "edited", edits) == version(tmp_path / "original")


def test_a_code_edit_in_a_lazily_imported_module_changes_the_version(tmp_path: Path) -> None:
    before = version(tmp_path / "original")
    assert version(tmp_path / "lazy", {"pkg/c.py": FILES["pkg/c.py"].replace("1", "10")}) != before
    assert version(tmp_path / "deep", {"pkg/sub/f.py": "g = 2.0\n"}) != before
    assert version(tmp_path / "unused", {"pkg/unused.py": "x = 4\n"}) == before
    assert re.fullmatch(r".+\+[0-9a-f]{16}", before)


def test_disk_cache_is_read_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package, script = make(tmp_path)
    first = stage_version(script, package)
    before = codeversion.package_code(package).closure(script)
    assert (package / "__pycache__" / "codeversion.json").is_file()
    with monkeypatch.context() as patched:  # as a new process would: nothing is parsed
        patched.setattr(codeversion, "parse_source", lambda *_: pytest.fail("parsed despite the cache"))
        assert PackageCode(package).closure(script) == before
    (package / "sub" / "f.py").write_text("g = 5\n")  # same path, new content: parsed again
    after = PackageCode(package).closure(script)
    assert after["pkg.sub.f"] != before["pkg.sub.f"] and after["pkg.a"] == before["pkg.a"]
    assert stage_version(script, package) == first  # a process reads each file once


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    package, script = make(tmp_path)
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "codeversion.json").write_text("{not json")
    assert set(PackageCode(package).closure(script)) == STAGE_MODULES


def test_an_import_of_a_missing_module_names_the_file(tmp_path: Path) -> None:
    package, script = make(tmp_path, {"pkg/b.py": "from pkg.gone import f\n"})
    with pytest.raises(ImportError, match=r"b\.py imports pkg\.gone"):
        PackageCode(package).closure(script)
    with pytest.raises(FileNotFoundError, match="no such stage script"):
        PackageCode(package).closure(tmp_path / "missing.py")


def test_wind_and_tiles_modules_belong_to_their_stages_only() -> None:
    """The reruns test_rerun.py expects: wind.py is run by wind_region, tiles.py by pmtiles."""
    code = codeversion.package_code(codeversion.PACKAGE_DIR)
    runs = {script.stem: set(code.closure(script)) for script in (REPO / "scripts").glob("*.py")}
    assert {s for s, modules in runs.items() if "windrisk.wind" in modules} == {"wind_region"}
    assert {s for s, modules in runs.items() if "windrisk.tiles" in modules} == {"pmtiles"}


def test_every_rule_passes_the_version_of_its_own_script() -> None:
    rules = {}
    for path in (REPO / "rules").glob("*.smk"):
        # Each piece after the first starts with a rule's name and runs to the next rule.
        for body in re.split(r"^\s*(?:rule|checkpoint) (?=\w+:)", path.read_text(), flags=re.MULTILINE)[1:]:
            script = re.search(r'"\.\./scripts/(\w+)\.py"', body)
            versions = re.findall(r'code_version=code_version\("(\w+)"\)', body)
            rules[body.split(":")[0]] = (script and script.group(1), versions)
    assert {"wind_region", "pmtiles", "map_page", "buildings_region"} <= rules.keys()
    for rule, (script, versions) in rules.items():
        if script is None:
            continue
        assert versions == ([] if rule in NO_CODE_VERSION else [script]), rule


def test_region_provenance_defaults_to_the_wind_stage_version() -> None:
    """What `windrisk store adopt` expects equals what the Snakefile gives wind_region, and is
    known without the workflow's scripts (an installed wheel has none)."""
    cfg = demo_config_in(Path("/nonexistent"))
    script = REPO / "scripts" / f"{codeversion.WIND_STAGE}.py"
    expected = stage_version(script)
    assert store.region_provenance(cfg, {})["code_version"] == expected
    imports = re.findall(r"^from (windrisk[\w.]*) import|^import (windrisk[\w.]*)", script.read_text(), re.MULTILINE)
    assert sorted({a or b for a, b in imports}) == sorted(codeversion.WIND_STAGE_IMPORTS)
    assert expected != stage_version(REPO / "scripts" / "pmtiles.py")


def test_an_install_without_the_workflow_scripts_knows_the_wind_version(tmp_path: Path) -> None:
    """A wheel puts the package in site-packages with no scripts/ beside it."""
    site = tmp_path / "site-packages"
    shutil.copytree(Path(codeversion.__file__).parent, site / "windrisk", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    got = subprocess.run(
        [sys.executable, "-c", "from windrisk import codeversion; print(codeversion.wind_version())"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert got == stage_version(REPO / "scripts" / f"{codeversion.WIND_STAGE}.py")
