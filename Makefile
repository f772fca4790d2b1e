# One-command setup: every target bootstraps what it needs.
PYTHON ?= python3
# Every virtualenv is filled by uv (pinned in requirements-uv.txt, installed with pip into its own
# .venv-uv): the pins of each requirements file, in a fraction of pip's time. Bytecode is compiled at
# install, as pip does: it is the only cache where PYTHONDONTWRITEBYTECODE is set, and the local
# stack starts a dozen interpreters per stack.
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
UV_INSTALL = $(UV) pip install --quiet --compile-bytecode --python
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

$(UV): requirements-uv.txt
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-uv.txt
	@touch $@

.PHONY: install install-sam install-checkov scan browser test test-suite test-py311 lint typecheck bench dev build dashboard clean

# The layer (shared/) is importable in the venv as it is on Lambda (/opt/python), and the project's
# own packages from anywhere: a .pth file, so no module changes sys.path when it is imported.
$(BIN)/.installed: requirements-dev.txt shared/requirements.txt $(UV)
	$(PYTHON) -m venv $(VENV)
	$(UV_INSTALL) $(BIN)/python -r requirements-dev.txt
	$(BIN)/python -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_path("purelib"), "connection-tracker.pth").write_text("$(CURDIR)/shared\n$(CURDIR)\n")'
	@touch $@

install: $(BIN)/.installed

$(SAM_VENV)/.installed: requirements-sam.txt $(UV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(UV_INSTALL) $(SAM_VENV)/bin/python -r requirements-sam.txt
	@touch $@

install-sam: $(SAM_VENV)/.installed

# checkov in its own virtualenv too (its pins fight requirements-dev.txt's boto3)
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt $(UV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(UV_INSTALL) $(CHECKOV_VENV)/bin/python -r requirements-checkov.txt
	@touch $@

install-checkov: $(CHECKOV_VENV)/.installed

# The infrastructure security scan: fails on any finding; what does not apply is skipped in the
# resource's Metadata with its reason (docs/operations.md, Security). Offline: no download.
scan: install-checkov
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pylint --persistent=n --score=n --disable=all --enable=attribute-defined-outside-init local_stack  # parts get their collaborators at construction

typecheck: install
	$(BIN)/mypy shared/connection_tracker functions local_stack ops sam_template

# Debian's Chromium and ChromeDriver for the browser tests (tests/browser) and `snapshot`.
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	echo "installing Debian's chromium and chromium-driver (the dashboard's browser test needs them)"; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "cannot install them: run as root on Debian, or 'apt-get install chromium chromium-driver'"; exit 1; fi; \
	( apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null ) \
		|| { echo "apt-get could not install chromium and chromium-driver (is Debian's registry reachable?)"; exit 1; }

# `make test` runs its independent parts at once (make -j: the virtualenvs install side by side;
# lint, typecheck and the 3.11 run go beside the suite), and pytest-xdist spreads the suite
# over workers: the end-to-end tests mostly wait on their own stacks' clocks, not on the CPU, and
# each starts its stack on free ports. TEST_JOBS=1 PYTEST_WORKERS=0 runs everything one by one.
TEST_JOBS ?= 6
PYTEST_WORKERS ?= 4
test:
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=line lint typecheck test-py311 test-suite

# The suite runs the scan itself (tests/template/test_security.py), so `make test` does not run it twice.
test-suite: install install-sam install-checkov browser
	SAM_CLI=$(abspath $(SAM)) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

# The code also runs on Python 3.11: the unit and integration tests, on 3.11.
PY311_VENV := .venv-py311
$(PY311_VENV)/.installed: requirements-py311.txt $(UV)
	python3.11 -m venv $(PY311_VENV)
	$(UV_INSTALL) $(PY311_VENV)/bin/python -r requirements-py311.txt
	@touch $@

test-py311: $(PY311_VENV)/.installed install-sam  # the template tests expand it with SAM's translator (.venv-sam)
	$(PY311_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/functional tests/integration

bench: install
	$(BIN)/python -m bench

# `make dev ARGS="--alarm-time-scale 0.1"`: any option of `python -m local_stack up`
dev: install install-sam
	$(BIN)/python -m local_stack up $(ARGS)

build: install install-sam
	$(SAM) build --template-file template.yaml --build-dir .aws-sam/build
	$(BIN)/python -m ops.rehearsal_template .aws-sam/rehearsal-template.json
	$(SAM) build --template-file .aws-sam/rehearsal-template.json --base-dir . --build-dir .aws-sam/rehearsal
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --target .aws-sam/runtime \
		$$(grep -E '^(boto3|botocore|s3transfer|jmespath|python-dateutil|six|urllib3)==' requirements-dev.txt)
	$(BIN)/python -m ops.check_build

dashboard: install
	$(BIN)/python -m ops.dashboard --write

clean:
	rm -rf $(UV_VENV) $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(PY311_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
