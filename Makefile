# Every target installs what it needs first; each step is skipped when already done.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv jars prism tools wrk infra-up infra-down status run demo test test-unit test-integration lint format bench schemas constraints clean

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is not on PATH; the project needs Python 3.11."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

prism: venv
	@$(BIN)/python -m infra.local.stack prism

jars: venv
	@$(BIN)/python -m infra.local.stack fetch

# The offline validators of infra/ (checkov, hadolint, promtool, ...), in .venv-tools/.
tools:
	@bash infra/tools/install.sh

infra-up: jars
	@$(BIN)/python -m infra.local.stack up

infra-down: venv
	@$(BIN)/python -m infra.local.stack down

status: venv
	@$(BIN)/python -m infra.local.stack status

run: jars prism
	@$(BIN)/python -m infra.local.run

demo: jars prism
	@$(BIN)/python -m infra.local.demo

test: jars prism tools
	@$(BIN)/python -m pytest

test-unit: venv tools
	@$(BIN)/python -m pytest -m "not integration"

test-integration: jars prism
	@$(BIN)/python -m pytest -m integration

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The receiver benchmark's HTTP load generator, a Debian package.
wrk:
	@command -v wrk >/dev/null || { \
	  test "$$(id -u)" = 0 || { echo "error: wrk is not installed, and installing it needs root: sudo apt-get install wrk"; exit 1; }; \
	  apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; }

bench: jars prism wrk
	@$(BIN)/python -m benchmarks

schemas: venv
	$(BIN)/python -m schemas.generate

# Re-resolve the pinned set from pyproject.toml in a scratch venv (needs the registry).
constraints:
	rm -rf .state/constraints-venv
	$(PYTHON) -m venv .state/constraints-venv
	.state/constraints-venv/bin/pip install --quiet --upgrade pip
	.state/constraints-venv/bin/pip install --quiet '.[dev]'
	{ echo "# Pinned versions of every Python package the project installs (pip install -c constraints.txt)."; \
	  echo "# Regenerate with: make constraints"; \
	  .state/constraints-venv/bin/pip freeze --exclude pip --exclude setuptools --exclude tapcart-events | sort -f; } > constraints.txt
	rm -rf .state/constraints-venv

clean: infra-down
	rm -rf $(VENV) .venv-tools .state .pytest_cache .mypy_cache .ruff_cache
