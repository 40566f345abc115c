# The two commands of the README: `make run` (the Lambda's real job on an embedded emulator) and
# `make test` (everything CI checks). Both set up the virtual environment from the pinned requirements.
# `make docs` builds the documentation site (site/) strictly; `make docs-examples` reruns the commands whose
# output the docs show (docs/examples/).
SHELL := /bin/bash
# The image runs Python 3.12, so the tests do too when this machine has it (scripts/find-python.sh, which
# says so on stderr when it falls back to python3 >= 3.11). `make test PYTHON=...` chooses another.
ifeq ($(filter command line environment,$(origin PYTHON)),)
PYTHON := $(shell bash scripts/find-python.sh)
endif
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV := .venv
PY := $(VENV)/bin/python
# On a terminal pip shows what it downloads and installs (the first `make run` waits on it); elsewhere (CI, a
# pipe) it stays quiet. stderr is asked: a command substitution's own stdout is never a terminal.
PIP_QUIET = $$([[ -t 2 ]] || echo --quiet)
# The stamp names the Python version: a .venv built with another one is rebuilt, not reused.
STAMP := $(VENV)/.installed-$(PYTHON_VERSION)

.PHONY: venv run test lint unit integration bench soak clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -z "$(PYTHON_VERSION)" && { echo "make: $(PYTHON) does not run" >&2; exit 1; } || true
	@if [[ -x $(PY) ]] && [[ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PYTHON_VERSION)" ]]; then \
		echo "make: $(VENV) is Python $$($(PY) -c 'import platform; print(platform.python_version())'), not $(PYTHON_VERSION): rebuilding it"; \
		rm -rf $(VENV); \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "make: installing the pinned requirements into $(VENV) (the first time takes a minute or two)" >&2
	$(PY) -m pip install $(PIP_QUIET) --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)
	@echo "make: $(VENV) runs Python $$($(PY) -c 'import platform, sys; print(platform.python_version(), "(" + sys.base_prefix + ")")')" >&2

run: venv
	$(VENV)/bin/order-creator local

lint: venv
	$(VENV)/bin/ruff check src tests bench scripts/docs_examples.py
	$(VENV)/bin/ruff format --check src tests bench scripts/docs_examples.py
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv
	$(PY) -m pytest tests/integration -q

# Branch coverage of src/order_creator, child processes included (pyproject.toml [tool.coverage]); under 90% fails.
test: lint check-deploy docs
	rm -f .coverage .coverage.*
	$(PY) -m pytest -q --cov --cov-report=term --cov-fail-under=90

# The deploy checkers live in their own environment: aws-sam-translator pins pydantic ~=2.13, the runtime 2.14.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-stamp

.PHONY: tools check-deploy

$(TOOLS_STAMP): requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

check-deploy: venv tools
	bash scripts/check-deploy.sh

# The documentation site (MkDocs Material) in its own environment: nothing of it is imported by the code.
# --strict: a dead link or anchor, a page left out of the nav or a missing example fails the build.
DOCS_VENV := .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed-stamp

.PHONY: docs docs-examples

$(DOCS_STAMP): requirements-docs.txt
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-docs.txt
	touch $(DOCS_STAMP)

# Not --quiet: with it MkDocs 1.6 no longer counts the warnings, and --strict passes whatever they say.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

# Every command example of the docs, run again on a local emulator and written to docs/examples/ (commit them);
# tests/integration/test_docs_examples.py (make test) fails while they differ from what the commands print.
docs-examples: venv
	$(PY) scripts/docs_examples.py

# The cold start is measured from a venv of the runtime dependencies and the Lambda runtime client only.
LAMBDA_VENV := .venv-lambda
LAMBDA_STAMP := $(LAMBDA_VENV)/.installed-stamp

$(LAMBDA_STAMP): requirements.txt bench/requirements-lambda.txt
	test -x $(LAMBDA_VENV)/bin/python || $(PYTHON) -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements-lambda.txt
	touch $(LAMBDA_STAMP)

# The handler against the seed's algorithm (latency, CPU, capacity units, a hot tenant, the cold start), the audit's
# and the events publisher's costs; figures to docs/benchmarks.json, then the pictures (docs/*.png) drawn from them.
bench: venv $(LAMBDA_STAMP)
	$(PY) bench/run.py
	$(PY) bench/audit_bench.py
	$(PY) bench/order_events.py
	$(PY) bench/charts.py

# 20,000 messages under every fault kind and crash step; writes its figures to docs/reliability.md.
soak: venv
	ORDER_CREATOR_SOAK=1 SOAK_REPORT=docs/reliability.md $(PY) -m pytest tests/reliability -m soak -q -p no:logging --timeout=5400

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*
