"""Every recipe in conf/experiment composes and validates; the generator-backed ones smoke-run a step
at their official model size (lessons.md: lightning-hydra-template's test_sweeps pattern)."""

import pytest

from lra_bench.cli import main
from lra_bench.compose import compose, group_options
from lra_bench.config import validate_run_config
from lra_bench.report import LRA_TASKS

EXPERIMENTS = group_options("experiment")


def test_every_task_has_an_lra_recipe():
    assert {f"lra/{t}" for t in LRA_TASKS} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_recipe_composes_with_version_and_source(experiment):
    run = validate_run_config(compose([f"experiment={experiment}"]))
    assert run.recipe.name == experiment and run.recipe.version and run.recipe.source
    assert run.task.name in experiment.split("/")[-1]


@pytest.mark.parametrize("experiment, shrink", [
    ("lra/listops", ["task.num_train=64", "task.num_val=16", "task.num_test=16", "task.min_length=20",
                     "task.max_length=64"]),
    ("lra_modern/pathfinder", ["task.num_images=80", "task.images_per_file=40", "task.difficulty=curv_baseline"]),
])
def test_recipe_smoke_runs_one_step(workspace, experiment, shrink):
    overrides = [f"experiment={experiment}", *shrink, "trainer.max_steps=1", "trainer.batch_size=8",
                 "trainer.eval_every=1", "trainer.eval_max_batches=1", "logger=none", "trainer.progress=false"]
    assert main(["train", *workspace.overrides(*overrides, tiny=False)]) == 0
    (record,) = workspace.records()
    assert record["status"] == "ok" and record["recipe"]["name"] == experiment


# (D, layers, L in total, pooling) from raresdolga/latte_transformer experiments/config/*.yaml
LATTE = {"listops": (128, 6, 40, "mean"), "text": (256, 6, 0, "mean"), "retrieval": (128, 6, 40, "mean"),
         "image": (512, 6, 0, "mean"), "pathfinder": (256, 6, 0, "mean"), "pathx": (256, 6, 40, "mean")}


@pytest.mark.parametrize("task", sorted(LATTE))
def test_latte_recipes_follow_the_authors_configs(task):
    run = validate_run_config(compose([f"experiment=lra_latte/{task}"]))
    dim, depth, latents, pooling = LATTE[task]
    assert run.attention.name == "latte" and run.attention.num_latents == latents
    assert (run.model.dim, run.model.depth, run.model.mlp_dim, run.model.pooling) == (dim, depth, 4 * dim, pooling)
    assert run.model.positions == "sinusoidal" and run.trainer.beta2 == 0.999 and run.trainer.grad_clip == 1.0


def test_latte_recipe_runs_and_takes_other_variants_once_the_latent_key_is_dropped(workspace):
    run = validate_run_config(compose(["experiment=lra_latte/listops", "attention=softmax", "~attention.num_latents"]))
    assert run.attention.name == "softmax" and run.model.dim == 128 and run.recipe.name == "lra_latte/listops"
    overrides = ["experiment=lra_latte/listops", "model.depth=1", "task.num_train=64", "task.num_val=16",
                 "task.num_test=16", "task.min_length=20", "task.max_length=64", "trainer.max_steps=1",
                 "trainer.batch_size=8", "trainer.eval_every=1", "trainer.eval_max_batches=1", "logger=none",
                 "trainer.progress=false"]
    assert main(["train", *workspace.overrides(*overrides, tiny=False)]) == 0
    (record,) = workspace.records()
    assert record["status"] == "ok" and record["recipe"]["name"] == "lra_latte/listops"
    assert record["config"]["attention"]["num_latents"] == 40


# Positions and projection bias as LRA's code sets them (google-research/long-range-arena@cd31e5c):
# listops/, text_classification/ and matching/train.py pass no learn_pos_emb (encoders' default False: fixed
# sinusoids); image/configs/cifar10 and pathfinder128 learn them, pathfinder32 does not; every model's
# attention projections are built with bias=False (e.g. models/transformer/transformer.py).
LRA_POSITIONS = {"listops": "sinusoidal", "text": "sinusoidal", "retrieval": "sinusoidal", "image": "learned",
                 "pathfinder": "sinusoidal", "pathx": "learned"}


@pytest.mark.parametrize("task", sorted(LRA_POSITIONS))
def test_lra_recipes_take_lra_positions_and_unbiased_projections(task):
    run = validate_run_config(compose([f"experiment=lra/{task}"]))
    assert run.model.positions == LRA_POSITIONS[task] and run.model.qkv_bias is False
    latte = validate_run_config(compose([f"experiment=lra_latte/{task}"]))
    assert latte.model.qkv_bias is True  # Latte's W and o_proj: use_bias=True (models/modules/latte.py)


def test_projection_bias_follows_the_config():
    import torch

    from lra_bench.config import ModelConfig
    from lra_bench.model import MultiHeadAttention

    attention = validate_run_config(compose(["attention=softmax"])).attention
    for bias in (True, False):
        layer = MultiHeadAttention(ModelConfig(name="t", dim=16, num_heads=2, qkv_bias=bias), attention, 8)
        assert (layer.qkv.bias is not None, layer.out.bias is not None) == (bias, bias)
        assert layer(torch.randn(2, 8, 16), torch.ones(2, 8, dtype=torch.bool)).shape == (2, 8, 16)
