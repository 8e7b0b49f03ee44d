# idtheory — the two commands: `make figures` (quick scale, offline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SCALE ?= quick
# Extra arguments of `idtheory figures`, e.g. FIGURES_ARGS="--compute --only 1 2".
FIGURES_ARGS ?=
# Local GLUE data (GLUE TSV layout); .ci/run points it at ../shared/data.
IDTHEORY_DATA ?= $(abspath ../shared/data)
export IDTHEORY_DATA
PYTEST_ARGS ?= -m "not slow and not gpu"

.PHONY: all venv test test-all lint figures clear-notebooks bench clean

all: test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# CPU build of torch from the local wheel (a plain `torch` would pull a multi-GB CUDA build).
	$(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q torch
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

test: venv lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-all: venv
	$(PY) -m pytest -m "not gpu"

lint: venv
	$(PY) -m ruff check idtheory tests scripts benchmarks
	$(PY) -m ruff format --check idtheory tests scripts benchmarks

figures: venv
	$(PY) -m idtheory.cli figures --scale $(SCALE) $(FIGURES_ARGS)

# The notebooks are the source: edit them in Jupyter, then strip outputs before committing.
clear-notebooks: venv
	$(PY) scripts/clear_notebooks.py

bench: venv
	$(PY) -m idtheory.bench fwht

clean:
	rm -rf build .pytest_cache .ruff_cache
