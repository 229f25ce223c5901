# Two commands on a fresh machine: `make demo` runs the workflow on the demo data,
# `make test` runs the test suite. Both install into .venv first (fast when up to date).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all
# icechunk 2 needs Python >= 3.12; pyenv installs are found even when not selected.
# Bytecode is compiled at install time: every Snakemake job starts a fresh interpreter, and
# PYTHONDONTWRITEBYTECODE (set on some machines) would otherwise make each one recompile.
PYTHON312 ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 /usr/bin/python3.12; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: demo test test-fast bench lint format view dag system-deps clean-demo lock release

$(BIN)/.installed: pyproject.toml requirements.lock
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it (e.g. pyenv install 3.12) or set PYTHON312=/path/to/python3.12"; exit 1; }
	test -x $(BIN)/python || $(PYTHON312) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $@

demo: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml

# Two workers: most tests wait on one single-threaded Snakemake or subprocess at a time. A test
# file stays on one worker (its module fixtures are made once); the demo run is shared by both.
# --no-loadscope-reorder: xdist would hand out the files largest first, not in the order that
# tests/conftest.py sets (the demo run first, then the long files). The package's bytecode is
# compiled first: each Snakemake job is a fresh interpreter that cannot cache it under
# PYTHONDONTWRITEBYTECODE.
TEST_WORKERS ?= 2
test: $(BIN)/.installed system-deps
	$(BIN)/python -m compileall -q -j 0 src tests scripts
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -m "not slow and not slurm and not browser"

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/run_all.py

lint: $(BIN)/.installed
	$(BIN)/snakemake --lint --configfile config/config.yaml
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/snakefmt --check Snakefile rules

format: $(BIN)/.installed
	$(BIN)/ruff format src tests scripts benchmarks
	$(BIN)/snakefmt Snakefile rules

view: $(BIN)/.installed
	$(BIN)/windrisk serve --configfile config/config.yaml

# The rule graph as SVG, drawn by graphviz's dot. Without dot the shell used to leave an empty svg:
# check for it first, and write to a temporary name renamed only when both steps succeed
# (pipefail: a failed snakemake fails the pipe too), so no empty or partial svg is ever left.
dag: $(BIN)/.installed
	@command -v dot >/dev/null || { echo "make dag: dot not found on PATH: install graphviz (apt-get install graphviz), then run make dag again" >&2; exit 1; }
	set -o pipefail; $(BIN)/snakemake --rulegraph --configfile config/config.yaml | dot -Tsvg > docs/rulegraph.svg.tmp \
		&& mv docs/rulegraph.svg.tmp docs/rulegraph.svg || { rm -f docs/rulegraph.svg.tmp; exit 1; }

# Slurm, munge and Chromium for the integration tests; installed only when absent and root.
system-deps:
	@bash scripts/ci/system_deps.sh

# Cut a release: make release VERSION=0.2.0 (bumps pyproject.toml, dates the changelog's notes).
release: $(BIN)/.installed
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=MAJOR.MINOR.PATCH"; exit 2; }
	$(BIN)/python -m windrisk.release $(VERSION)

lock: $(BIN)/.installed
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.12 -o requirements.lock

clean-demo:
	rm -rf results resources/demo .snakemake
