"""Image: CIFAR-10 as gray pixel sequences of length 1024 (spec/tasks.md "Image (CIFAR-10, grayscale)").

Source: Hugging Face `uoft-cs/cifar10` (columns `img`, `label`) or a local folder with that layout.
Gray = round(0.2989 R + 0.5870 G + 0.1140 B) (the luminance weights of tf.image.rgb_to_grayscale),
flattened row by row; tokens are gray + 1 (0 = padding). Official split: train[:90%] / train[90%:] /
test = 45,000 / 5,000 / 10,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from tqdm.auto import tqdm

from ..errors import DataError
from . import TaskConfig, TaskData, family_data_dir, register_task_family
from .cache import cache_key, cached_splits, open_tokens, save_labels
from .hub import load_hf_splits

TOKENIZATION = "gray-pixels-v1 (round(0.2989 R + 0.5870 G + 0.1140 B) + 1; 0 = padding)"
LUMA = np.array([0.2989, 0.5870, 0.1140])


@dataclass
class ImageConfig(TaskConfig):
    source: str = "hf"
    hf_dataset: str = "uoft-cs/cifar10"
    train_fraction: float = 0.9
    SOURCES: ClassVar[tuple] = ("hf",)


def to_gray(image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    return np.clip(np.round(rgb @ LUMA), 0, 255).astype(np.int16)


@register_task_family("image", ImageConfig)
def load_splits(config: ImageConfig, data_dir: str) -> TaskData:
    key = cache_key(dataset=config.hf_dataset, fraction=config.train_fraction, tokenization=TOKENIZATION)

    def build(partial: Path):
        splits = load_hf_splits(config.hf_dataset, family_data_dir(data_dir, "image") / "hf", config.name,
                                columns=("img", "label"))
        train = splits["train"]
        cut = int(config.train_fraction * len(train))
        parts = {"train": (train, range(0, cut)), "val": (train, range(cut, len(train))),
                 "test": (splits["test"], range(len(splits["test"])))}
        for split, (dataset, rows) in parts.items():
            tokens = open_tokens(partial, split, (len(rows), config.max_len))
            labels = []
            for out, row in enumerate(tqdm(rows, desc=f"image: {split}", leave=False)):
                example = dataset[row]
                gray = to_gray(example["img"]).reshape(-1)
                if gray.size != config.max_len:
                    raise DataError(f"{config.hf_dataset}[{split}][{row}]: expected {config.max_len} pixels, "
                                    f"got {gray.size}")
                tokens[out] = gray + 1
                labels.append(int(example["label"]))
            tokens.flush()
            save_labels(partial, split, labels)

    splits = cached_splits(family_data_dir(data_dir, "image") / f"cache-{key}", build)
    return TaskData(**splits, vocab_size=257, num_classes=config.num_classes, tokenization=TOKENIZATION)
