# Everything a fresh clone needs: `make run` (local API on DynamoDB Local) and `make test` (whole suite).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The first Python 3.13 that really runs (a pyenv shim on PATH may not).
PYTHON ?= $(shell for p in python3.13 "$$(pyenv root 2>/dev/null)/versions/3.13.0/bin/python"; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { command -v "$$p"; break; }; done)
VENV := .venv
TOOLS := .venv-tools
CHECKOV := .venv-checkov
PY := $(VENV)/bin/python
SAM := SAM_CLI_TELEMETRY=0 PYENV_VERSION=3.11.7:3.12.1:3.13.0 $(TOOLS)/bin/sam
PORT ?= 3000
STAGE ?= dev
SUB ?= acct-1
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help venv tools run token test unit lint bench build deploy catalogs clean import

help:
	@echo "make run     local API on http://127.0.0.1:$(PORT) over DynamoDB Local (Ctrl-C stops)"
	@echo "make test    the whole suite (lint, unit, integration, HTTP, events, sam build layout)"
	@echo "make unit    fast tests on moto only"
	@echo "make lint    ruff, mypy, sam validate --lint, cfn-lint, checkov"
	@echo "make token SUB=acct-1   a development JWT"
	@echo "make bench   cold start, warm latency, DynamoDB requests/capacity per call, layer size"
	@echo "make catalogs            recompile the gettext catalogs (.po -> .mo)"
	@echo "make import FILE=export.jsonl FROM=accounts|camera|user-push-tokens|pigeons [TABLE=… ENDPOINT=… RATE=…]"
	@echo "make build | deploy STAGE=dev|prod | clean"

# Last, the project itself (editable): the `push-registry` command, ops/ and the layer's push_registry.
$(VENV)/.stamp: layers/registry/requirements.txt requirements-dev.txt requirements-ops.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: set PYTHON=/path/to/python3.13"; exit 1; }
	"$(PYTHON)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r layers/registry/requirements.txt -r requirements-dev.txt -r requirements-ops.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $@

venv: $(VENV)/.stamp

$(TOOLS)/.stamp: requirements-tools.txt
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: set PYTHON=/path/to/python3.13"; exit 1; }
	"$(PYTHON)" -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

$(CHECKOV)/.stamp: requirements-checkov.txt
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: set PYTHON=/path/to/python3.13"; exit 1; }
	"$(PYTHON)" -m venv $(CHECKOV)
	$(CHECKOV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

tools: $(TOOLS)/.stamp $(CHECKOV)/.stamp

run: venv
	$(PY) -m local.server --port $(PORT)

token: venv
	@$(PY) -m local.devtoken --sub "$(SUB)"

lint: venv tools
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers/registry/push_registry local ops
	$(SAM) validate --lint
	$(TOOLS)/bin/cfn-lint template.yaml
	# Offline; every skipped rule is listed in template.yaml with its reason.
	$(CHECKOV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

unit: venv
	$(PY) -m pytest tests/unit -q

test: lint
	$(PY) -m pytest -q

catalogs: venv  ## recompile the gettext catalogs after editing a .po file
	cd layers/registry/push_registry/locales && for l in */; do ../../../../$(VENV)/bin/pybabel compile -D pigeons -d . -l $${l%/}; done

# Defaults: make run's table on its DynamoDB Local; TABLE=<name> with ENDPOINT= (empty) for AWS.
TABLE ?= push-registry-local
ENDPOINT ?= http://127.0.0.1:8000
RATE ?= 200
import: venv  ## push-registry import (see README, "Adopting: import your existing tokens")
	@test -n "$(FILE)" -a -n "$(FROM)" || { echo "usage: make import FILE=export.jsonl FROM=accounts|camera|user-push-tokens|pigeons"; exit 2; }
	$(VENV)/bin/push-registry import "$(FILE)" --from "$(FROM)" --table "$(TABLE)" --rate "$(RATE)" \
		$(if $(ENDPOINT),--endpoint-url "$(ENDPOINT)")

bench: venv build  ## cold start vs baselines, warm latency, DynamoDB requests and capacity per call
	$(PY) -m local.bench

build: tools
	$(SAM) build

deploy: build
	$(SAM) deploy --config-env $(STAGE)

clean:
	rm -rf $(VENV) $(TOOLS) $(CHECKOV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
