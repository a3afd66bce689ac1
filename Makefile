# Two commands: `make repro` (run the pipeline) and `make test` (run the tests).
# Both create .venv on first use and reuse it afterwards.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PY := $(VENV)/bin/python
PROFILE ?=
PYTEST_ARGS ?=
UI_PORT ?= 5000

export PATH := $(abspath $(VENV))/bin:$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export PYTHONUNBUFFERED := 1
# One id per `make repro`: every MLflow run of this reproduction carries it as a tag.
NEURALODE_REPRO_ID ?= repro-$(shell date -u +%Y%m%dT%H%M%SZ)
export NEURALODE_REPRO_ID

.PHONY: install install-test repro test test-slow deps lint bench ui clean-venv

# torch's CPU-only wheels where no GPU is visible (no nvidia-smi) and PyTorch's CPU index
# answers: the venv then lacks the CUDA libraries (nvidia-*, 3.2 GB) and triton (0.9 GB).
# TORCH_INDEX=<url> names another extra index; TORCH_INDEX= turns it off.
TORCH_INDEX ?= auto
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
torch_index = $(if $(filter auto,$(TORCH_INDEX)),$(shell if ! command -v nvidia-smi \
	>/dev/null 2>&1 && $(PYTHON) -c "import urllib.request as u; \
	u.urlopen('$(TORCH_CPU_INDEX)/torch/', timeout=5)" >/dev/null 2>&1; then \
	echo --extra-index-url $(TORCH_CPU_INDEX); fi),$(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)))

# Two packages: the library (library/, torch only) and the pipeline (the root, which
# depends on it). One pip call installs both, the library from its folder.
$(VENV)/.stamp-runtime: pyproject.toml library/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(torch_index) -e ./library -e '.[vode]'
	@touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-runtime
	$(PY) -m pip install -q $(torch_index) -e ./library -e '.[vode,test]'
	@touch $@

install: $(VENV)/.stamp-runtime
install-test: $(VENV)/.stamp-test

## repro: run the whole pipeline; PROFILE=name runs profiles/name.yaml as a DVC experiment
## in a temporary workspace (the checkout is left alone; results in runs/<experiment>/)
repro: install
ifneq ($(PROFILE),)
	$(PY) -m neuralode_repro.profile run $(PROFILE)
else
	$(PY) -m neuralode_repro.params check
	dvc repro
	$(PY) -m neuralode_repro.stale --prune
endif

## test: the default (fast) test suite
test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)

## test-slow: also the tests marked slow
test-slow: install-test
	$(PY) -m pytest -m "" $(PYTEST_ARGS)

## bench: neuralode vs torchdiffeq and torchode; writes benchmarks/results.md
bench: install-test
	$(PY) benchmarks/bench.py

## deps: rewrite dvc.yaml's code deps from each stage's import closure (tests check them)
deps: install
	$(PY) -m neuralode_repro.codedeps --write

lint: install-test
	$(PY) -m ruff check src library stages tests benchmarks

## ui: MLflow UI on the embedded store, loopback only (UI_PORT=5000); prints the URL of the runs view
## (MLflow 3 opens experiments in its GenAI view otherwise); see src/neuralode_repro/ui.py
ui: install
	$(PY) -m neuralode_repro.ui --port $(UI_PORT)

clean-venv:
	rm -rf $(VENV)
