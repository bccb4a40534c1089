# The two commands the README promises on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-quick lint bench chaos clean

run: $(VENV)/.installed
	$(BIN)/hotfix-bot serve

test: $(VENV)/.installed-dev lint
	$(BIN)/pytest

# The edit loop: the quick unit tests only (markers in tests/conftest.py), under a minute;
# no lint, no bot, no child process. `make test` is what CI runs.
test-quick: $(VENV)/.installed-dev
	$(BIN)/pytest -q -m "unit and not slow"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# One chaos run by hand, e.g. `make chaos SEED=12 HOGS=2` (HOGS busy-loop processes beside
# the bot); `make test` runs the three seeds CI runs (tests/test_chaos.py: RUNS).
SEED ?= 20261126
HOGS ?= 0
chaos: $(VENV)/.installed-dev
	HOTFIX_CHAOS_SEED=$(SEED) HOTFIX_CHAOS_HOGS=$(HOGS) $(BIN)/pytest -q tests/test_chaos.py

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
