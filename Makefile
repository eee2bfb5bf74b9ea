# The two commands of the README's quick start, and what they need.
#   make demo   set up, then run the example job on this machine and predict with its model
#   make test   set up (Python environment + the test cluster's binaries), then lint and test
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint unit cluster-binaries crd clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

setup: $(BIN)/.installed

demo: setup
	$(BIN)/automl run examples/breast-cancer.yaml --overwrite
	$(BIN)/automl predict automl-runs/breast-cancer examples/data/breast_cancer_test.csv -o automl-runs/breast-cancer/predictions.csv
	@echo "first predictions (automl-runs/breast-cancer/predictions.csv):"
	@head -n 4 automl-runs/breast-cancer/predictions.csv

# Builds kube-apiserver, etcd, MinIO, helm, ... from the Go module proxy into a cache
# outside the clone (~/.cache/kube-automl/cluster); a no-op when they are there.
cluster-binaries: setup
	$(BIN)/python -m tests.cluster build

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest tests/unit

test: setup cluster-binaries lint
	$(BIN)/pytest

crd: setup
	$(BIN)/python -m automl.crd > crds/automljob.yaml
	cp crds/automljob.yaml charts/kube-automl/crds/automljob.yaml

clean:
	rm -rf $(VENV) automl-runs .pytest_cache .mypy_cache .ruff_cache
