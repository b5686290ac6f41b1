# One command per user job; each installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install sweep test test-all mutation report site bench gpu-wheels gpu-verify reproduce clean

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

# Only the static leaderboard site, results/site/index.html (`make report` and `make sweep` write it too).
site: install
	$(BIN)/lra-bench report --html $(ARGS)

# Speed and memory of every variant vs softmax (CPU: 256-2048 tokens; on a GPU: 1K-16K).
bench: install
	$(BIN)/lra-bench bench $(ARGS)

# Where there is a package index: every wheel a GPU machine's Python (3.12, torch + CUDA, no hydra)
# lacks for `make gpu-verify`, for CPython 3.12 on manylinux x86_64, into .wheels/ (git-ignored, ~1.6 MB:
# carry it with the working tree). hydra-core and omegaconf at the versions this venv tests; antlr4's
# runtime is published as source only, so its wheel is built here; fla-core brings fla's kernels.
GPU_WHEEL_PLATFORM := --only-binary=:all: --python-version 3.12 --implementation cp \
	--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
gpu-wheels: install
	rm -rf .wheels && mkdir -p .wheels
	$(PYTHON) -m pip download -q --no-deps $(GPU_WHEEL_PLATFORM) -d .wheels fla-core $$($(BIN)/python -c \
		"import importlib.metadata as m; print(' '.join(f'{n}=={m.version(n)}' for n in ('hydra-core', 'omegaconf')))")
	$(PYTHON) -m pip wheel -q --no-deps -w .wheels antlr4-python3-runtime==$$($(BIN)/python -c \
		"import importlib.metadata as m; print(m.version('antlr4-python3-runtime'))")
	ls .wheels && du -sh .wheels

# On the GPU machine, offline, with the Python that holds CUDA torch (never reinstalled): the GPU
# tests, ListOps at the LRA recipe, the attention speed table and whole training steps in 9 minutes,
# each result in $$OUT (or results/gpu/) as soon as it exists (tools/gpu_verify.py; results/REPRODUCTION.md).
# DRY=1: the same plan at toy sizes on a CPU (the test suite runs it).
GPU_PYTHON ?= python3
gpu-verify:
	WANDB_MODE=disabled $(GPU_PYTHON) tools/gpu_verify.py $(if $(DRY),--dry-run --total-seconds 300)

# ListOps and Pathfinder-32 at the official setup, softmax then the seed variants (needs a GPU).
reproduce: install
	$(BIN)/lra-bench prepare task=listops
	$(BIN)/lra-bench prepare task=pathfinder
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/lra-bench sweep sweep=reproduce $(ARGS)
	$(BIN)/lra-bench report

clean:
	rm -rf outputs multirun results/runs results/leaderboard* results/plots results/site
