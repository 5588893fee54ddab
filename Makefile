# The two commands: `make demo` and `make test`. Each installs into .venv when
# needed (only again when pyproject.toml changes), checks the system parts it
# needs, then runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-clock install lint typecheck bench check-system clean

$(STAMP): pyproject.toml
	@scripts/check-system python "$(PYTHON)"
	@test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)
	@echo "installed spapi-lake into $(VENV)"

install: $(STAMP)

check-system:
	@scripts/check-system java

demo: install check-system
	$(BIN)/python -m spapi_sandbox.demo

test: install check-system lint
	$(BIN)/python -m pytest

# The whole suite again with the wall clock a year ahead and a year back (time-machine).
test-clock: install check-system
	scripts/test-shifted-clock +365 -365

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/bench_ratelimit.py

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache .mypy_cache
