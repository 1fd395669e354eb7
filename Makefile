# yQuant: two commands.
#   make run   bootstrap .venv (locked dependencies) and start yQuant on the embedded defaults
#   make test  run the whole test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)

.PHONY: run test bootstrap bench lint

run: bootstrap
	.venv/bin/yquant up

test: bootstrap
	scripts/test

bootstrap: .venv/.synced

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --python $(PYTHON)
	@touch $@

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet 'uv>=0.5'

bench: bootstrap
	.venv/bin/python bench/e2e.py

lint: bootstrap
	.venv/bin/ruff check src tests bench
