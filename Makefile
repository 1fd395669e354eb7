# yQuant: two commands.
#   make run    bootstrap .venv with the locked runtime dependencies and start yQuant on the
#               embedded defaults
#   make test   the static checks (make check), then the whole test suite (what CI runs)
#   make check  ruff (lint and format), mypy --strict on src/, the import contracts
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: run test check bootstrap bootstrap-run bench lint

run: bootstrap-run
	.venv/bin/yquant up

test: bootstrap
	scripts/test

check: bootstrap
	scripts/check

# The full environment: runtime plus the dev group (pytest, ruff, mypy, import-linter, ...).
bootstrap: .venv/.synced-dev

# Only what running needs. --inexact keeps dev tools a previous `make test` installed, so
# switching between `make run` and `make test` reinstalls nothing.
bootstrap-run: .venv/.synced-run

# Modules are compiled at install (--compile-bytecode, and compileall for our own sources,
# which uv installs editable): every role then starts about twice as fast, also where Python
# may not write its __pycache__ (PYTHONDONTWRITEBYTECODE, a read-only install).
.venv/.synced-dev: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	.venv/bin/python -m compileall -q src
	@touch $@ .venv/.synced-run

.venv/.synced-run: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --locked --no-dev --inexact --compile-bytecode --python $(PYTHON)
	.venv/bin/python -m compileall -q src
	@touch $@

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet 'uv>=0.5'

bench: bootstrap
	.venv/bin/python bench/e2e.py

lint: check
