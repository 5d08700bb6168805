# Two entry points (see README): `make demo` and `make test`.
# Both create the virtual environment on first use.

PYTHON ?= python3
VENV := .venv
QGIS_VENV := .venv-qgis
BIN := $(VENV)/bin
# torch is pinned to the CPU build this machine kind serves locally; a bare
# `torch` requirement would pull a multi-GB CUDA build.
TORCH := torch==2.13.0

.PHONY: demo test lint test-python test-slow test-qgis test-qgis-slow plugin-zip clean

$(BIN)/s2vec: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH) -e '.[dev,geoclip]'
	$(BIN)/pip install -q --no-deps geoclip==1.3.0
	touch $@

demo: $(BIN)/s2vec
	$(BIN)/s2vec run examples/data/helsinki.osm.pbf --level 18 --image-level 15 \
		--epochs 50 --output out/helsinki.gpkg --resume
	@echo "embeddings: out/helsinki.gpkg   PCA map: out/helsinki.png   run folder: out/helsinki_work/"

lint: $(BIN)/s2vec
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-python: $(BIN)/s2vec
	$(BIN)/pytest --ignore=tests/qgis --doctest-modules s2vec_geo tests

# Tests marked slow (real signals and concurrent writers, about a minute).
test-slow: $(BIN)/s2vec
	$(BIN)/pytest --ignore=tests/qgis -m slow tests

# The QGIS plugin tests run inside QGIS's own Python (Debian's, which sees
# qgis.core); the plugin runs the engine out of process with $(VENV)'s Python.
$(QGIS_VENV)/bin/pytest:
	/usr/bin/python3.11 -m venv --system-site-packages $(QGIS_VENV)
	$(QGIS_VENV)/bin/pip install -q pytest 'pytest-qgis>=5'

QGIS_PYTEST := QT_QPA_PLATFORM=offscreen S2VEC_ENGINE_PYTHON=$(abspath $(BIN))/python \
	$(QGIS_VENV)/bin/pytest -o qgis_gui_enabled=False

test-qgis: $(BIN)/s2vec $(QGIS_VENV)/bin/pytest
	$(QGIS_PYTEST) --doctest-modules qgis_plugin tests/qgis

# The QGIS tests marked slow: fifty fresh qgis_process runs of one algorithm (about
# five minutes on two cores); not in `make test`, for CI to run on its own.
test-qgis-slow: $(BIN)/s2vec $(QGIS_VENV)/bin/pytest
	$(QGIS_PYTEST) -m slow tests/qgis

# The whole suite: lint, the library tests, and the QGIS plugin tests when
# QGIS is installed (apt-get install qgis python3-qgis qgis-providers).
test: lint test-python
	@if [ -x /usr/bin/qgis_process.bin ]; then $(MAKE) --no-print-directory test-qgis; \
	else echo "QGIS is not installed: plugin tests skipped (see qgis_plugin/README.md)"; fi

plugin-zip:
	$(PYTHON) qgis_plugin/build_zip.py

clean:
	rm -rf out dist .pytest_cache .ruff_cache
