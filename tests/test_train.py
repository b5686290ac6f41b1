"""The trainer: it learns, it schedules the rate as documented, and it evaluates the best checkpoint."""

import math

import pytest
import torch

from lra_bench.attention import attention_schema
from lra_bench.config import ModelConfig, TrainerConfig
from lra_bench.data import Split, TaskData
from lra_bench.model import Classifier
from lra_bench.train import Trainer, lr_multiplier


def _toy_task(n=512, length=12, seed=0):
    """Label = do small tokens (1-5) outnumber large ones (6-10)? Learnable in a few dozen steps."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, 11, (n, length), generator=g)
    tokens[: n // 2, length // 2 + 1:] = 0  # half the rows padded (odd real length: no ties)
    real = tokens != 0
    labels = ((tokens <= 5) & real).sum(1) * 2 > real.sum(1)
    labels = labels.long()
    split = Split(tokens, labels)
    return TaskData(split, Split(tokens[:128], labels[:128]), Split(tokens[128:256], labels[128:256]),
                    vocab_size=11, num_classes=2, tokenization="toy")


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_tiny_training_lowers_the_loss(tmp_path, attention):
    torch.manual_seed(0)
    data = _toy_task()
    model = Classifier(ModelConfig(name="t", dim=32, depth=1, num_heads=2, mlp_dim=32, dropout=0.0),
                       attention_schema(attention)(name=attention), vocab_size=11, max_len=12, num_classes=2)
    trainer = Trainer(model, data, TrainerConfig(max_steps=60, batch_size=32, lr=3e-3, warmup_steps=5,
                                                 eval_every=20, progress=False), seed=0, checkpoint_dir=tmp_path)
    before = trainer.evaluate(data.val)["loss"]
    result = trainer.fit()
    after = trainer.evaluate(data.val)["loss"]
    assert after < before - 0.2, (before, after)
    assert result.metrics["test_accuracy"] > 0.8
    assert (tmp_path / "best.pt").exists()
    best = max(result.history, key=lambda h: h["val_accuracy"])
    assert result.metrics["best_val_step"] == best["step"]


def test_schedules():
    cosine = TrainerConfig(max_steps=100, warmup_steps=10, schedule="cosine")
    assert lr_multiplier(0, cosine) == pytest.approx(0.1) and lr_multiplier(9, cosine) == pytest.approx(1.0)
    assert lr_multiplier(55, cosine) == pytest.approx(0.5) and lr_multiplier(100, cosine) == pytest.approx(0.0)
    rsqrt = TrainerConfig(max_steps=5000, warmup_steps=1000, schedule="rsqrt")
    # official: 0.05 * min(1, s/1000) / sqrt(max(s, 1000)); with lr = 0.05/sqrt(1000) the curves coincide
    for step in (1000, 2500, 4000):
        official = 0.05 / math.sqrt(max(step, 1000))
        assert 0.05 / math.sqrt(1000) * lr_multiplier(step, rsqrt) == pytest.approx(official)
    linear = TrainerConfig(max_steps=20, warmup_steps=0, schedule="linear")
    assert lr_multiplier(10, linear) == pytest.approx(0.5)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_pooled_features_do_not_depend_on_padding(pooling):
    """`last` pools the last real token (Latte's Retrieval recipe), wherever the padding starts."""
    from lra_bench.model import Encoder

    torch.manual_seed(0)
    encoder = Encoder(ModelConfig(name="t", dim=16, depth=1, num_heads=2, mlp_dim=16, dropout=0.0, pooling=pooling),
                      attention_schema("softmax")(name="softmax"), vocab_size=11, max_len=12).eval()
    tokens = torch.tensor([[3, 4, 5, 6, 7]])
    padded = torch.cat([tokens, torch.zeros(1, 7, dtype=torch.long)], dim=1)  # PAD_ID = 0
    assert torch.allclose(encoder(tokens), encoder(padded), atol=1e-5)
    if pooling == "last":
        other_last = torch.tensor([[3, 4, 5, 6, 9]])
        assert not torch.allclose(encoder(tokens), encoder(other_last))


def test_train_state_keeps_the_checkpoint_layout_of_earlier_runs():
    """last.pt stores the state as a plain dict with the keys earlier checkpoints have, so they resume."""
    from dataclasses import asdict

    from lra_bench.train import TrainState

    earlier = {"step": 40, "best_accuracy": 0.5, "best_step": 20, "history": [{"step": 20}], "loss_curve": [[10, 1.0]],
               "counters": {"train_seconds": 1.0, "train_examples": 64, "train_tokens": 640, "eval_seconds": 0.5,
                            "eval_examples": 32, "eval_tokens": 320}, "model": {}, "optimizer": {}, "rng": {}}
    state = TrainState.from_checkpoint(earlier)
    assert state.step == 40 and state.counters.train_tokens == 640
    assert asdict(state) == {k: v for k, v in earlier.items() if k not in ("model", "optimizer", "rng")}
