"""Multi-query associative recall: targets are the values bound to the queried keys; every variant
with a causal form trains on it with a per-token head."""

import pytest
import torch

from lra_bench.attention import attention_schema, get_attention_class, list_attentions
from lra_bench.config import ModelConfig, TrainerConfig
from lra_bench.data import IGNORE_LABEL, load_task
from lra_bench.data.recall import RecallConfig
from lra_bench.errors import ConfigError
from lra_bench.model import Classifier
from lra_bench.train import Trainer

CONFIG = RecallConfig(name="recall", family="recall", num_classes=16, max_len=20, num_train=64, num_val=16,
                      num_test=16)


def test_targets_are_the_values_bound_to_the_queried_keys():
    data = load_task(CONFIG, "")
    for tokens, labels in zip(data.train.tokens, data.train.labels):
        pairs = {tokens[i].item(): tokens[i + 1].item() - 17 for i in range(0, 16, 2)}
        assert len(pairs) == 8  # distinct keys
        assert (labels[:16] == IGNORE_LABEL).all()
        for key, target in zip(tokens[16:].tolist(), labels[16:].tolist()):
            assert pairs[key] == target
    assert load_task(CONFIG, "").train.tokens.equal(data.train.tokens)  # seeded


def test_config_checks():
    with pytest.raises(ConfigError, match="task.max_len: must be 2 \\* num_pairs \\+ num_queries = 20"):
        RecallConfig(name="r", family="recall", num_classes=16, max_len=24)
    with pytest.raises(ConfigError, match="num_queries <= num_pairs <= num_keys"):
        RecallConfig(name="r", family="recall", num_classes=16, max_len=36, num_pairs=16, num_keys=8, num_queries=4)


@pytest.mark.parametrize("attention", [n for n in list_attentions() if get_attention_class(n).supports_causal])
def test_every_causal_variant_trains_on_recall(attention, tmp_path):
    data = load_task(CONFIG, "")
    torch.manual_seed(0)
    model = Classifier(ModelConfig(name="c", dim=16, depth=1, num_heads=2, mlp_dim=16, pooling="none", causal=True),
                       attention_schema(attention)(name=attention), data.vocab_size, 20, data.num_classes)
    result = Trainer(model, data, TrainerConfig(max_steps=2, batch_size=8, eval_every=2, warmup_steps=1,
                                                progress=False), seed=0, checkpoint_dir=tmp_path).fit()
    assert 0 <= result.metrics["test_accuracy"] <= 1 and result.metrics["chance_accuracy"] < 0.2
