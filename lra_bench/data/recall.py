"""Multi-query associative recall (MQAR): a causal task that LRA lacks, the known probe of linear
attention's recall gap (Arora et al. 2023, "Zoology"; spec/README.md, issue 10).

A sequence lists `num_pairs` key-value pairs with distinct keys, then `num_queries` of those keys;
at each query the model must output the value bound to that key earlier in the sequence. Key tokens
are 1..K, value tokens K+1..K+V (0 = padding); targets are value indices 0..V-1 at query positions and
IGNORE_LABEL elsewhere. Generated offline and seeded; a causal model reads it left to right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..errors import ConfigError
from . import IGNORE_LABEL, Split, TaskConfig, TaskData, register_task_family

TOKENIZATION = "mqar-v1 (keys 1..K, values K+1..K+V, targets at query positions)"


@dataclass
class RecallConfig(TaskConfig):
    num_keys: int = 16
    num_values: int = 16
    num_pairs: int = 8
    num_queries: int = 4
    num_train: int = 5000
    num_val: int = 500
    num_test: int = 500
    data_seed: int = 0
    SOURCES: ClassVar[tuple] = ("generate",)
    TOKEN_LABELS: ClassVar[bool] = True

    def __post_init__(self):
        super().__post_init__()
        if self.num_pairs > self.num_keys or self.num_queries > self.num_pairs:
            raise ConfigError("task: need num_queries <= num_pairs <= num_keys "
                              f"(got {self.num_queries}, {self.num_pairs}, {self.num_keys})")
        if self.max_len != 2 * self.num_pairs + self.num_queries:
            raise ConfigError(f"task.max_len: must be 2 * num_pairs + num_queries = "
                              f"{2 * self.num_pairs + self.num_queries}, got {self.max_len}")
        if self.num_classes != self.num_values:
            raise ConfigError(f"task.num_classes: must equal num_values = {self.num_values}, got {self.num_classes}")


def generate(config: RecallConfig, count: int, rng: np.random.Generator) -> Split:
    K, V, P, Q = config.num_keys, config.num_values, config.num_pairs, config.num_queries
    keys = np.argsort(rng.random((count, K)), axis=1)[:, :P]  # distinct keys per sequence
    values = rng.integers(0, V, size=(count, P))
    asked = np.argsort(rng.random((count, P)), axis=1)[:, :Q]  # which pairs are queried
    tokens = np.zeros((count, 2 * P + Q), dtype=np.int64)
    tokens[:, 0:2 * P:2] = keys + 1
    tokens[:, 1:2 * P:2] = values + K + 1
    tokens[:, 2 * P:] = np.take_along_axis(keys, asked, axis=1) + 1
    labels = np.full(tokens.shape, IGNORE_LABEL, dtype=np.int64)
    labels[:, 2 * P:] = np.take_along_axis(values, asked, axis=1)
    return Split(torch.from_numpy(tokens), torch.from_numpy(labels))


@register_task_family("recall", RecallConfig)
def load_splits(config: RecallConfig, data_dir: str) -> TaskData:
    rng = np.random.default_rng(config.data_seed)
    splits = {name: generate(config, n, rng) for name, n in
              (("train", config.num_train), ("val", config.num_val), ("test", config.num_test))}
    return TaskData(**splits, vocab_size=1 + config.num_keys + config.num_values, num_classes=config.num_values,
                    tokenization=TOKENIZATION)
