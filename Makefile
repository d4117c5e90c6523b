# Two commands from a fresh machine with Python >= 3.10:
#   make demo   install everything into .venv, then synthesise, extract, probe and report on the demo corpus
#               (into results/demo-local/; results/demo/ is the committed output of the same command)
#   make test   install everything into .venv, then run the test suite
#   make test-fast   the same without the end-to-end tests marked `slow` (for development; CI runs `make test`)
#
# torch is pinned in the same pip command as everything else, so no other package can pull a newer torch
# (and its CUDA wheels) behind your back. For a specific build, name its wheel index, e.g. the CPU-only build:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
# or a CUDA build: TORCH_INDEX=https://download.pytorch.org/whl/cu128 (see pytorch.org for your CUDA version).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
# `opensmile` (eGeMAPS baselines, audEERING's research-only licence) is optional for users: drop it with
# `make demo EXTRAS=test`; the test suite uses it to check eGeMAPS caches against opensmile itself.
EXTRAS ?= test,opensmile
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast clean

# --no-compile: pip would byte-compile all ~15,700 modules of the dependencies (about 51 CPU-seconds); Python
# compiles the ~3,600 that the demo imports on first import instead (about 12 s, once), and never the rest.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)" -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/probe demo --out results/demo-local

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) features/synthetic results/runs results/demo-local
