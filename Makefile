# One command each for a new user: `make demo`, `make test`. Needs Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# import-linter gets a venv of its own: it brings rich, which structlog imports at every start
# when it can; the exporter, its tests and its benchmarks should start as they do installed.
IMPORTS_VENV := $(VENV)-imports
IMPORT_LINTER := import-linter==2.17

.PHONY: demo demo-alerts test lint test-unit test-integration bench bench-smoke bench-scale bench-accounts check clean kubernetes-rules

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

$(IMPORTS_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(IMPORTS_VENV)
	$(IMPORTS_VENV)/bin/pip install --quiet '$(IMPORT_LINTER)'
	touch $@

demo: $(STAMP)  ## run the exporter against the built-in simulator
	$(VENV)/bin/thingspace-exporter --demo

demo-alerts: $(STAMP)  ## incidents to notifications: simulator, exporter, Prometheus, Alertmanager (~5 min)
	$(PY) deploy/demo/alerts.py

test: $(STAMP)  ## every test suite (e2e tests need promtool/prometheus on PATH)
	$(PY) -m pytest

lint: $(STAMP) $(IMPORTS_VENV)/.installed  ## ruff (lint and format), mypy, and the import contracts between the layers
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	PYTHONPATH=exporter $(IMPORTS_VENV)/bin/lint-imports

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit

test-integration: $(STAMP)
	$(PY) -m pytest tests/integration

bench: $(STAMP)  ## performance ratios against baselines measured in the same run
	$(PY) bench/run.py

bench-smoke: $(STAMP)
	$(PY) bench/run.py --smoke
	$(PY) bench/scale.py --smoke
	$(PY) bench/accounts.py --smoke

bench-accounts: $(STAMP)  ## 1000 accounts x 200 devices, every collector: memory, threads, cycle, /metrics
	$(PY) bench/accounts.py

bench-scale: $(STAMP)  ## the same at fleet scale: 5 million devices, 20 accounts, a restart (~10 min)
	$(PY) bench/scale.py

kubernetes-rules: $(STAMP)  ## regenerate the Kubernetes PrometheusRule from deploy/prometheus/
	$(PY) deploy/kubernetes/render_prometheusrule.py

clean:
	rm -rf $(VENV) $(IMPORTS_VENV) .pytest_cache build *.egg-info exporter/*.egg-info
