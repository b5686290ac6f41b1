# One command per user job; each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install sweep test test-all mutation report bench gpu-check wheels reproduce clean

install: $(STAMP)

# The CPU wheel goes in first so that `torch>=2.3` is already satisfied
# and pip never pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

sweep: install
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/lra-bench sweep $(ARGS)
	$(BIN)/lra-bench report

test: install
	WANDB_MODE=offline $(BIN)/pytest -q $(ARGS)

test-all: install
	WANDB_MODE=offline $(BIN)/pytest -q -m '' $(ARGS)

# Mutation check (slow, ~10 min): each plausible wrong implementation in tests/mutations.py, applied
# alone to a temporary copy, must fail the variant's tests; prints the score and the survivors.
mutation: install
	WANDB_MODE=offline $(BIN)/python tests/mutations.py $(ARGS)

report: install
	$(BIN)/lra-bench report $(ARGS)

# Speed and memory of every variant vs softmax (CPU: 256-2048 tokens; on a GPU: 1K-16K).
bench: install
	$(BIN)/lra-bench bench $(ARGS)

# On a CUDA machine whose Python already has torch (never reinstalled here): the GPU tests, then the
# speed targets (results/speed_check.md) and whole training steps of ListOps and Text
# (results/model_step.md). An offline GPU node installs fla-core from .wheels/ (`make wheels` first,
# where there is internet, and copy the folder along).
GPU_PYTHON ?= python3
gpu-check:
	$(GPU_PYTHON) -m pip install -q --no-deps -e .
	$(GPU_PYTHON) -m pip install -q --no-deps $$(test -d .wheels && echo --no-index --find-links .wheels) fla-core
	WANDB_MODE=offline $(GPU_PYTHON) -m pytest -q -m gpu
	$(GPU_PYTHON) -m lra_bench.cli bench --check --out results/speed_check.md
	$(GPU_PYTHON) -m lra_bench.cli bench --model listops,text --out results/model_step.md

wheels:
	$(PYTHON) -m pip download -q --no-deps -d .wheels fla-core

# ListOps and Pathfinder-32 at the official setup, softmax then the seed variants (needs a GPU).
reproduce: install
	$(BIN)/lra-bench prepare task=listops
	$(BIN)/lra-bench prepare task=pathfinder
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/lra-bench sweep sweep=reproduce $(ARGS)
	$(BIN)/lra-bench report

clean:
	rm -rf outputs multirun results/runs results/leaderboard* results/plots
