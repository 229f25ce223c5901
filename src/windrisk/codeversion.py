"""The version of the code each workflow stage runs, so that an edit re-runs exactly the rules it affects.

Snakemake's code trigger hashes only a rule's ``script:`` file, a thin wrapper here; the work is
done in this package. A *stage* is a script (``scripts/<name>.py``); its code is every module of
this package the script imports, followed transitively through those modules' own imports,
including imports inside functions (lazy imports are common here) and under ``TYPE_CHECKING``.
Imports of other packages are not followed, and ``importlib.import_module`` calls are not seen.
Rules pass :func:`stage_version` as ``params.code_version``, and params are a rerun trigger.

What counts as a change: each module is hashed as ``ast.dump`` of its syntax tree with docstrings
removed, so an edit of comments, docstrings or layout alone re-runs nothing; any other edit of a
module re-runs every stage that imports it, directly or not. The script's own text is left to
Snakemake's code trigger. Data files (the config schema, the map page's assets) are not code here:
the config reaches rules through params, the page assets through ``web.assets_digest``.

Cost: parsing the whole package takes up to a second on a slow machine, and the Snakefile is
parsed by the main process and again by every job. So each file's digest and imports are kept
per process and on disk in ``__pycache__/codeversion.json`` beside the sources, keyed by the
SHA-256 of the file's text and the Python version (whose ``ast`` may differ); only an edited
file is parsed again. A cache that cannot be written is skipped.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

import windrisk
from windrisk.io import write_json_atomic

PACKAGE_DIR = Path(windrisk.__file__).resolve().parent
# The stage whose version a region's provenance records (adoption compares it).
WIND_STAGE = "wind_region"
# The package modules scripts/wind_region.py imports (tests/test_codeversion.py keeps them in
# step), so an install without the workflow's scripts (a wheel) knows the wind stage's version.
WIND_STAGE_IMPORTS = ("windrisk.io", "windrisk.settings", "windrisk.wind")
CACHE_FORMAT = 1
CACHE_ENTRIES = 1000  # beyond this, the cache is cut down to the files this process read

# One import statement: (relative level, module, imported names); `import a.b` is (0, "a.b", ()).
Import = tuple[int, str, tuple[str, ...]]
Parsed = tuple[str, tuple[Import, ...]]  # (digest of the code without docstrings, its imports)


def stage_version(script: str | Path, package_dir: Path = PACKAGE_DIR) -> str:
    """``<package version>+<16 hex>``: the version of the code ``script`` runs from the package
    in ``package_dir``; it changes with the code (not the comments or docstrings) of any module
    the script imports, directly or not."""
    code = package_code(package_dir)
    modules = code.closure(Path(script))
    code.save()
    return _version_of(modules)


def modules_version(names: Iterable[str], package_dir: Path = PACKAGE_DIR) -> str:
    """The version ``stage_version`` gives a script whose package imports are ``names``."""
    code = package_code(package_dir)
    modules = code.modules_closure(names)
    code.save()
    return _version_of(modules)


def _version_of(modules: dict[str, str]) -> str:
    digest = hashlib.sha256(f"{windrisk.__version__}\n".encode())
    for name in sorted(modules):
        digest.update(f"{name} {modules[name]}\n".encode())
    return f"{windrisk.__version__}+{digest.hexdigest()[:16]}"


def wind_version() -> str:
    """The version of the wind stage as installed: what a region computed now records."""
    return modules_version(WIND_STAGE_IMPORTS)


@functools.cache
def package_code(package_dir: Path) -> PackageCode:
    """The (per-process) reader of the package in ``package_dir``."""
    return PackageCode(package_dir)


class PackageCode:
    """Digests and imports of one package's modules: each file is read once per process (edits
    made while it runs are not seen) and parsed only when the disk cache lacks its text."""

    def __init__(self, package_dir: Path) -> None:
        self.package_dir = package_dir
        self.package = package_dir.name
        self.cache_file = package_dir / "__pycache__" / "codeversion.json"
        self.entries = self._load()
        self.used: set[str] = set()
        self.changed = False
        self.nodes: dict[str, tuple[str, dict[str, Path]]] = {}  # module or script → (digest, what it imports)

    def closure(self, script: Path) -> dict[str, str]:
        """Module name → digest of every package module ``script`` imports, directly or not."""
        if not script.is_file():
            raise FileNotFoundError(
                f"{script}: no such stage script; name a file under the workflow's "
                "scripts/ (or pass code_version when running outside a source checkout)"
            )
        return self._closure(self.node(script, None)[1])

    def modules_closure(self, names: Iterable[str]) -> dict[str, str]:
        """Module name → digest of the package modules ``names`` and everything they import."""
        return self._closure(self.imported([(0, name, ()) for name in names], self.package_dir, None))

    def _closure(self, direct: dict[str, Path]) -> dict[str, str]:
        todo = dict(direct)
        modules: dict[str, str] = {}
        while todo:
            name, path = todo.popitem()
            digest, imported = self.node(path, name)
            modules[name] = digest
            todo.update((other, file) for other, file in imported.items() if other not in modules)
        return modules

    def node(self, path: Path, module: str | None) -> tuple[str, dict[str, Path]]:
        """(digest, package modules it imports) of the file ``path``, module ``module`` (None: a script)."""
        key = module or str(path)
        if key not in self.nodes:
            digest, imports = self.parse(path)
            self.nodes[key] = digest, self.imported(imports, path, module)
        return self.nodes[key]

    def imported(self, imports: Iterable[Import], path: Path, module: str | None) -> dict[str, Path]:
        """Name → file of the package modules ``imports`` (those of ``path``, module ``module``)
        load: each named module with its parent packages, and the names of a ``from`` import that
        are modules."""
        out: dict[str, Path] = {}
        for level, name, names in imports:
            base = self.absolute(level, name, path, module)
            if base is None or base.split(".")[0] != self.package:
                continue
            parts = base.split(".")
            for parent in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
                file = self.module_file(parent)
                if file is None:
                    raise ImportError(f"{path} imports {parent}, which is not in {self.package_dir}: fix the import")
                out[parent] = file
            for item in names:
                file = self.module_file(f"{base}.{item}")
                if file is not None:  # else an attribute, or `*`
                    out[f"{base}.{item}"] = file
        return out

    @staticmethod
    def absolute(level: int, name: str, path: Path, module: str | None) -> str | None:
        """The absolute module name of a (possibly relative) import; None for a relative import
        outside a package (a script)."""
        if not level:
            return name
        if module is None:
            return None
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - level + 1]
        return ".".join([*base, name] if name else base)

    def module_file(self, name: str) -> Path | None:
        """The file of package module ``name`` (a package's ``__init__.py`` first, as Python does),
        None for a name that is not a module (an attribute, or ``*``)."""
        where = "/".join(name.split(".")[1:])
        candidates = [f"{where}/__init__.py" if where else "__init__.py", *([f"{where}.py"] if where else [])]
        found = next((file for file in candidates if file in self.sources), None)
        return None if found is None else self.package_dir / found

    @functools.cached_property
    def sources(self) -> frozenset[str]:
        """Every ``.py`` file of the package, relative to it: one listing instead of a stat per name."""
        return frozenset(path.relative_to(self.package_dir).as_posix() for path in self.package_dir.rglob("*.py"))

    def parse(self, path: Path) -> Parsed:
        """(digest, imports) of one file, from the disk cache when it holds the file's text."""
        source = path.read_bytes()
        key = f"{sys.version_info[0]}.{sys.version_info[1]}:{hashlib.sha256(source).hexdigest()}"
        if key not in self.entries:
            self.entries[key] = parse_source(source, str(path))
            self.changed = True
        self.used.add(key)
        digest, imports = self.entries[key]
        return digest, tuple((level, name, tuple(names)) for level, name, names in imports)

    def _load(self) -> dict[str, Parsed]:
        try:
            data = json.loads(self.cache_file.read_text())
        except (OSError, ValueError):
            return {}
        return data["entries"] if isinstance(data, dict) and data.get("format") == CACHE_FORMAT else {}

    def save(self) -> None:
        """Write the disk cache when this process parsed something new (atomically: jobs share it)."""
        if not self.changed:
            return
        if len(self.entries) > CACHE_ENTRIES:  # old versions of edited files pile up
            self.entries = {key: self.entries[key] for key in self.used}
        try:
            write_json_atomic(self.cache_file, {"format": CACHE_FORMAT, "entries": self.entries})
        except OSError:
            return  # a read-only install: parse again next time
        self.changed = False


def parse_source(source: bytes, filename: str) -> Parsed:
    """(SHA-256 of the code without docstrings, comments or layout; every import statement in it)."""
    tree = ast.parse(source, filename)
    imports: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [(0, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imports.append((node.level, node.module or "", tuple(alias.name for alias in node.names)))
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and _has_docstring(
            node
        ):
            node.body = node.body[1:]
    # ast.dump leaves out line and column numbers, and the tree holds no comments.
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest(), tuple(imports)


def _has_docstring(node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = node.body[0] if node.body else None
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
