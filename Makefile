# One-command setup: every target bootstraps what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: install install-sam test lint typecheck unit bench dev build clean

$(BIN)/.installed: requirements-dev.txt shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(BIN)/.installed

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	@touch $@

install-sam: $(SAM_VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy shared/connection_tracker functions

test: lint typecheck install-sam
	SAM_CLI=$(abspath $(SAM)) $(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench

dev: install
	$(BIN)/python -m local_stack

build: install-sam
	$(SAM) build --template-file template.yaml
	$(BIN)/python -m local_stack.check_build .aws-sam/build

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
