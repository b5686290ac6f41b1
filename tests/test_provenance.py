"""Provenance (issue 19): a run id covers the config and the code, so editing a variant retrains under
the same command, the record states the code, and a checkpoint of other code is never resumed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from conftest import TINY

VARIANT = '''
import torch
from lra_bench.attention import Attention, register_attention


@register_attention("edited_variant")
class EditedVariant(Attention):
    def forward(self, q, k, v, key_padding_mask=None):
        scores = q @ k.transpose(-1, -2) * SCALE
        if key_padding_mask is not None:
            scores = scores.masked_fill(~key_padding_mask[:, None, None, :], float("-inf"))
        return scores.softmax(-1) @ v
'''


def _train(workspace, plugin_dir, *extra):
    env = {**os.environ, "WANDB_MODE": "disabled", "LRA_BENCH_INCLUDE": str(plugin_dir)}
    return subprocess.run([sys.executable, "-m", "lra_bench.cli", "train", "attention=edited_variant",
                           *workspace.overrides(), f"paths.checkpoint_dir={workspace.root / 'ckpt'}", *extra],
                          capture_output=True, text=True, timeout=600, env=env)


def test_editing_a_variant_retrains_under_the_same_command(workspace):
    plugins = workspace.root / "plugins"
    plugins.mkdir()
    source = plugins / "edited.py"
    source.write_text(VARIANT.replace("SCALE", "q.shape[-1] ** -0.5"))
    first = _train(workspace, plugins)
    assert first.returncode == 0 and "[ok]" in first.stdout, first.stderr[-2000:]
    again = _train(workspace, plugins)
    assert "[skipped, already complete]" in again.stdout
    (record,) = workspace.records()
    assert f"record {workspace.store / (record['run_id'] + '.json')}" in again.stdout and "rerun=true" in again.stdout

    source.write_text(VARIANT.replace("SCALE", "0.5"))  # only forward changes
    edited = _train(workspace, plugins)
    assert edited.returncode == 0 and "[ok]" in edited.stdout and "skipped" not in edited.stdout, edited.stdout
    old, new = sorted(workspace.records(), key=lambda r: r["started_at"])
    assert old["config_hash"] == new["config_hash"] and old["setup_hash"] == new["setup_hash"]
    assert old["code"]["variant_source_hash"] != new["code"]["variant_source_hash"]
    assert old["run_id"] != new["run_id"] and new["run_id"].endswith("__c" + new["code"]["code_hash"])
    assert new["code"]["package_version"] and "git_commit" in new["code"] and "git_dirty" in new["code"]


def test_a_checkpoint_of_other_code_is_not_resumed(workspace, capsys):
    from lra_bench.compose import compose
    from lra_bench.config import validate_run_config
    from lra_bench.data import load_task
    from lra_bench.model import Classifier
    from lra_bench.train import Trainer

    run = validate_run_config(compose([*TINY, f"paths.data_dir={workspace.data}"]))
    data = load_task(run.task, run.paths.data_dir)

    def trainer(code_hash):
        torch.manual_seed(0)
        model = Classifier(run.model, run.attention, data.vocab_size, run.task.max_len, data.num_classes)
        return Trainer(model, data, run.trainer, 0, workspace.root / "ckpt", code_hash=code_hash)

    trainer("aaaa").fit()
    assert torch.load(workspace.root / "ckpt" / "last.pt", weights_only=False)["code_hash"] == "aaaa"
    assert trainer("aaaa").fit().resumed_from == run.trainer.max_steps  # same code: resumes (here: at the end)
    other = trainer("bbbb").fit()
    assert other.resumed_from == 0 and "written by other code" in capsys.readouterr().err


def test_variant_source_hash_follows_the_file_of_a_registered_class():
    from lra_bench.provenance import code_identity, variant_source_hash

    assert variant_source_hash("softmax") == variant_source_hash("softmax")
    assert variant_source_hash("softmax") != variant_source_hash("linear")
    assert variant_source_hash("not_registered") is None
    assert len(code_identity("softmax")["code_hash"]) == 8
