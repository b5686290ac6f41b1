"""A tiny training step for every registered attention on every registered task family (lessons.md: "put a
tiny LRA in CI", xformers#155), on fixtures in the official formats, through the real model and trainer.
A family with a target per token (`TOKEN_LABELS`) runs a causal model with every variant that has a
causal form; a causal-only variant runs causal everywhere."""

import pytest
import torch

from fixtures import write_aan_like, write_cifar_like, write_imdb_like
from lra_bench.attention import attention_schema, get_attention_class, list_attentions
from lra_bench.config import ModelConfig, TrainerConfig
from lra_bench.data import load_task, task_families, task_schema
from lra_bench.model import Classifier
from lra_bench.train import Trainer



def runs_on(family: str, attention: str) -> bool:
    """Whether the variant has the form the family needs (a causal one for per-token targets)."""
    return get_attention_class(attention).has_form(causal=True) or not getattr(task_schema(family), "TOKEN_LABELS",
                                                                              False)


CASES = [(family, attention) for family in task_families() for attention in list_attentions()
         if runs_on(family, attention)]


@pytest.fixture(scope="module")
def task_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    data_dir = str(root / "data")

    def cfg(family, **values):
        return task_schema(family)(family=family, **values)

    configs = {
        "listops": cfg("listops", name="listops", num_classes=10, max_len=48, num_train=40, num_val=8, num_test=8,
                       min_length=8, max_length=48, max_depth=4, max_args=3),
        "pathfinder": cfg("pathfinder", name="pathfinder", num_classes=2, max_len=256, resolution=16,
                          difficulty="curv_baseline", contour_length=4, num_images=40, images_per_file=20, workers=1),
        "text": cfg("text", name="text", num_classes=2, max_len=96, hf_dataset=str(write_imdb_like(root / "imdb"))),
        "image": cfg("image", name="image", num_classes=10, max_len=1024,
                     hf_dataset=str(write_cifar_like(root / "cifar"))),
        "retrieval": cfg("retrieval", name="retrieval", num_classes=2, max_len=40,
                         release_dir=str(write_aan_like(root / "tsv_data"))),
        "recall": cfg("recall", name="recall", num_classes=16, max_len=20, num_train=40, num_val=8, num_test=8),
    }
    return {name: (c, load_task(c, data_dir)) for name, c in configs.items()}


def test_every_registered_family_has_a_smoke_config(task_data):
    assert sorted(task_data) == task_families(), "add a tiny config of the new family to task_data above"


@pytest.mark.parametrize("task, attention", CASES)
def test_smoke_every_attention_on_every_task(task_data, task, attention, tmp_path):
    config, data = task_data[task]
    torch.manual_seed(0)
    per_token = getattr(config, "TOKEN_LABELS", False)
    causal = per_token or not get_attention_class(attention).supports_noncausal  # run as a causal encoder
    model = Classifier(ModelConfig(name="tiny", dim=16, depth=1, num_heads=2, mlp_dim=16, dropout=0.0,
                                   causal=causal, pooling="none" if per_token else "mean"),
                       attention_schema(attention)(name=attention), data.vocab_size, config.max_len,
                       data.num_classes, two_tower=getattr(config, "two_tower", False))
    trainer = Trainer(model, data, TrainerConfig(max_steps=2, batch_size=4, eval_every=2, eval_max_batches=1,
                                                 warmup_steps=1, progress=False), seed=0, checkpoint_dir=tmp_path)
    result = trainer.fit()
    assert result.history and torch.isfinite(torch.tensor(result.history[-1]["train_loss"]))
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0
