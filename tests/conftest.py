"""Shared helpers: run the CLI in-process against a temporary store, data dir and output dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

# A tiny ListOps and model: a full train/eval/test cycle in about a second.
TINY = ["logger=none", "trainer.progress=false", "task.num_train=256", "task.num_val=64", "task.num_test=64",
        "task.max_length=48", "task.max_len=48", "model.dim=32", "model.depth=1", "model.mlp_dim=32",
        "trainer.max_steps=6", "trainer.eval_every=3", "trainer.batch_size=16", "trainer.warmup_steps=2"]


@pytest.fixture
def workspace(tmp_path):
    """Paths overrides that keep a run's data, records and outputs inside tmp_path."""

    class Workspace:
        root = tmp_path
        store = tmp_path / "runs"
        data = tmp_path / "data"

        def overrides(self, *extra, tiny=True):
            return [*(TINY if tiny else []), f"paths.store_dir={self.store}", f"paths.data_dir={self.data}",
                    f"hydra.run.dir={tmp_path}/out/run", f"hydra.sweep.dir={tmp_path}/out/sweep", *extra]

        def records(self):
            return [json.loads(p.read_text()) for p in sorted(Path(self.store).glob("*.json"))]

    return Workspace()

# Data hubs are unreachable in tests: fail fast instead of retrying the network.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
