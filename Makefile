# tfkit: train -> export (SavedModel) -> convert (TFLite, TF.js) -> serve (TF Serving contract) -> call.
# Quick start:  make export serve   |   make test
SHELL := /bin/bash
.DEFAULT_GOAL := help

ARTIFACTS ?= artifacts
TEST_ARTIFACTS ?= test-artifacts/export
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
TFKIT := $(VENV)/bin/tfkit
INSTALL_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONDONTWRITEBYTECODE := 1

# The exact flags the serving container uses (serving/Dockerfile, k8s): `make serve` runs the same list,
# with the container's /models mapped onto $(ARTIFACTS)/models.
SERVE_FLAGS := --port=8500 --rest_api_port=8501 \
	--model_config_file=serving/models.config \
	--model_config_file_poll_wait_seconds=60 \
	--enable_batching=true --batching_parameters_file=serving/batching.config \
	--monitoring_config_file=serving/monitoring.config \
	--enable_grpc_healthcheck_service=true

.PHONY: help install lock export serve serve-docker test test-contract test-contract-docker test-contract-tflite test-fast check clean tensorboard bench bench-lite bench-peers bench-scale bench-dashboard soak fuzz demo k8s-render models-image

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[36m%-21s\033[0m %s\n", $$1, $$2}'
	@echo "  variables: ARTIFACTS=$(ARTIFACTS)"

install: $(INSTALL_STAMP) $(NODE_STAMP) ## create .venv (from requirements.lock) and node_modules (npm ci); no-op when up to date

$(INSTALL_STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.lock -e .
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lock: ## re-resolve dependencies and rewrite requirements.lock
	$(VENV)/bin/pip install -q -e '.[dev]'
	(echo "# Lock file: exact versions of every package in .venv (pip freeze of pyproject's deps + [dev])."; \
	 echo "# Regenerate: make lock"; $(VENV)/bin/pip freeze --exclude-editable | grep -vi '^tfkit') > requirements.lock

export: install ## generate data, train both models, export SavedModels, convert to TFLite/TF.js, prove parity
	$(PY) -m export.pipeline --artifacts $(ARTIFACTS)

serve: install ## serve $(ARTIFACTS)/models on gRPC :8500 and REST :8501 (tfkit serve, TF Serving's flags)
	$(TFKIT) serve $(SERVE_FLAGS) --tfkit_path_map=/models=$(abspath $(ARTIFACTS))/models

MODELS_TAG ?= 1
models-image: ## build the models-only image the k8s init container copies from (one tag per model release)
	docker build -f serving/Dockerfile.models --build-arg MODELS=$(ARTIFACTS)/models -t tfkit-models:$(MODELS_TAG) .

serve-docker: ## build serving/Dockerfile and run the real tensorflow/serving image (needs a Docker engine)
	docker build -f serving/Dockerfile -t tfkit-serving:local --build-arg MODELS=$(ARTIFACTS)/models .
	docker run --rm -p 8500:8500 -p 8501:8501 tfkit-serving:local

test: install ## run every test (exports fresh artifacts into $(TEST_ARTIFACTS) first)
	rm -rf $(TEST_ARTIFACTS)
	$(PY) -m export.pipeline --artifacts $(TEST_ARTIFACTS)
	TFKIT_ARTIFACTS=$(abspath $(TEST_ARTIFACTS)) $(PY) -m pytest -q -p no:cacheprovider tests
	TFKIT_CONTRACT_TFLITE=1 TFKIT_ARTIFACTS=$(abspath $(TEST_ARTIFACTS)) $(PY) -m pytest -q -p no:cacheprovider \
		tests/contract/test_contract_parity.py tests/contract/test_contract_cases.py -k "predict or parity"

test-contract: install ## contract suite against tfkit serve over $(ARTIFACTS) (TFSERVING_REST_URL/_GRPC_TARGET: any server)
	TFKIT_ARTIFACTS=$(abspath $(ARTIFACTS)) $(PY) -m pytest -q -p no:cacheprovider tests/contract

# TFLite mode: --prefer_tflite_model=true serves each version's model.tflite (`make test` runs its predict + parity cases)
test-contract-tflite: install ## contract suite against tfkit serve --prefer_tflite_model=true (TFSERVING_TARGET=docker: the real image)
	TFKIT_CONTRACT_TFLITE=1 TFKIT_ARTIFACTS=$(abspath $(ARTIFACTS)) $(PY) -m pytest -q -p no:cacheprovider tests/contract

test-contract-docker: install ## contract suite against the real tensorflow/serving:2.19.0 (needs a Docker engine)
	TFSERVING_TARGET=docker TFKIT_ARTIFACTS=$(abspath $(ARTIFACTS)) $(PY) -m pytest -q -p no:cacheprovider tests/contract

test-fast: install ## unit tests that export nothing (no artifacts, no live servers; skips needs_export)
	$(PY) -m pytest -q -p no:cacheprovider -m "not needs_export" tests/unit

FUZZ_EXAMPLES ?= 100
fuzz: install ## long fuzz: Hypothesis profile "fuzz" on both codecs + a live server, then Schemathesis from serving/rest/openapi.json
	HYPOTHESIS_PROFILE=fuzz TFKIT_FUZZ_FULL=1 $(PY) -m pytest -q -p no:cacheprovider -s tests/fuzz
	$(PY) -m tests.fuzz.schemathesis_run --max-examples $(FUZZ_EXAMPLES)

check: install ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

tensorboard: install ## open TensorBoard on the training logs under $(ARTIFACTS)/train
	$(VENV)/bin/tensorboard --logdir $(ARTIFACTS)/train --bind_all

bench: install bench-dashboard bench-scale ## benchmarks -> bench/results (latency, throughput, batching, clients, conversion)
	$(PY) -m bench --artifacts $(ARTIFACTS) --out bench/results

bench-lite: install ## the LiteRT fast path alone: SavedModel vs model.tflite serving -> bench/results/lite.json (also part of bench)
	$(PY) -m bench.lite --artifacts $(ARTIFACTS) --out bench/results

PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed
$(PEERS_STAMP): bench/peers/requirements.lock
	@test -x $(PEERS_VENV)/bin/python || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install -q --disable-pip-version-check -r bench/peers/requirements.lock
	@touch $@

bench-peers: install $(PEERS_STAMP) ## KServe's ModelServer (own venv .venv-peers) vs tfkit serve, same model + load -> bench/results/peers.*
	$(PY) -m bench.peers.run --artifacts $(ARTIFACTS) --out bench/results --peer-python $(PEERS_VENV)/bin/python

bench-dashboard: install ## the Grafana dashboard's panels from a live Prometheus -> bench/results/dashboard.png
	$(PY) -m bench.dashboard_png --artifacts $(ARTIFACTS) --out bench/results/dashboard.png

SOAK_SECONDS ?= 600
soak: install ## soak: SOAK_SECONDS (600) of mixed REST/gRPC at 70% of max, new versions, reloads -> bench/results/soak.*
	SOAK_SECONDS=$(SOAK_SECONDS) $(PY) -m bench.soak --out bench/results

bench-scale: install ## Spark local[1], local[2] vs tfkit data import (100k, 1M rows); 1 vs 2 training workers -> bench/results/scale.*
	$(PY) -m bench.scale --out bench/results

demo: install ## browser demo on localhost (TF.js bundle + tfkit serve with CORS)
	$(PY) -m web.serve_demo --artifacts $(ARTIFACTS)

k8s-render: install ## render every kustomize overlay into k8s/rendered/
	$(PY) -m k8s.render --out k8s/rendered

clean: ## remove generated artifacts (keeps .venv and node_modules)
	rm -rf $(ARTIFACTS) test-artifacts k8s/rendered .mypy_cache .ruff_cache .pytest_cache
