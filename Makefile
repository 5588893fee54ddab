# The two commands: `make demo` and `make test`. Each checks the system parts it
# needs first (so a missing Java stops it before a long install), installs into
# .venv when needed (only again when pyproject.toml changes), then runs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Linters whose pins conflict with the project's (checkov pins boto3 1.35): a venv of their own.
TOOLS  := $(VENV)/tools
TOOLS_STAMP := $(TOOLS)/.installed
# Where `make package` puts what a Glue job needs.
GLUE_DIST ?= dist/glue

.PHONY: demo test test-clock install lint typecheck bench check-system package clean lab

# The project with its dev, glue and notebook extras: the tests run the curation on a
# local Spark, as a Glue job does, and execute the notebooks. The Jupyter kernel
# `spapi-lake` (this environment's Python) is registered for the user, so any
# JupyterLab lists it.
$(STAMP): pyproject.toml
	@scripts/check-system python "$(PYTHON)"
	@test -x $(BIN)/python || "$(PYTHON)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,glue,notebook]'
	$(BIN)/python -m ipykernel install --user --name spapi-lake --display-name "Python (spapi-lake)" >/dev/null
	@touch $(STAMP)
	@echo "installed spapi-lake into $(VENV) (Jupyter kernel: spapi-lake)"

# The `tools` dependency group of pyproject.toml (pip >= 25.1 reads it), without the project.
$(TOOLS_STAMP): pyproject.toml
	@test -x $(TOOLS)/bin/python || "$(PYTHON)" -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(TOOLS)/bin/python -m pip install --quiet --group tools
	@touch $(TOOLS_STAMP)

install: $(STAMP) $(TOOLS_STAMP)

check-system:
	@scripts/check-system java

# The whole pipeline offline: sandbox seller -> raw -> cleaned -> marts, then the
# notebooks executed to HTML under reports/.
demo: check-system install
	$(BIN)/python -m spapi_sandbox.demo --lake lake --out reports/demo --notebooks notebooks --reports reports

# JupyterLab on the notebooks, reading the demo's lake.
lab: install
	SPAPI_LAKE=$(CURDIR)/lake $(BIN)/jupyter lab notebooks/

# Two workers (this project's machines have two cores, and much of the suite waits on servers
# and subprocesses); tests/conftest.py keeps each module, and all of tests/curate, on one worker.
# A plain `pytest` runs everything in one process.
XDIST := -n 2 --dist loadgroup

test: check-system install lint
	$(BIN)/python -m pytest $(XDIST)

# The suite again with the wall clock a year ahead and a year back (time-machine), without the
# Spark tests: time-machine moves Python's clock, not the JVM's, so it would test only their
# Python side, which reads time through the injected clock (tests/unit/test_clock.py scans the
# code for anything else), and they are the slowest tests.
test-clock: check-system install
	scripts/test-shifted-clock +365 -365 -- -m "not spark" $(XDIST)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/cfn-lint --ignore-checks E2531 E2533 W2531 -- infra/template.yaml
	$(TOOLS)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f infra/template.yaml

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python benchmarks/bench_ratelimit.py

# What AWS runs: dist/lambda/ (the Lambda bundle: the project and its dependencies for Lambda's
# platform, from the package registry); dist/glue/, what a Glue 5.1 job installs: the entry
# scripts, the project wheel, and a zip of the wheels of everything the jobs import that Glue 5.1
# does not provide, at this environment's versions, for --python-modules-installer-option
# --no-index (spapi_toolkit/aws/glue_package.py; glue_jobs/README.md); infra/ regenerated from
# the contracts.
package: install
	$(BIN)/python -m spapi_toolkit.aws.glue_package . $(GLUE_DIST)
	$(BIN)/python -m spapi_toolkit.aws.deploy package . dist
	$(BIN)/python infra/generate.py
	@echo "deploy:     $(BIN)/spapi deploy --stack NAME   (docs/deploy.md)"

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache .mypy_cache build dist
