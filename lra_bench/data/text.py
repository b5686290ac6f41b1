"""Text: IMDB reviews at byte level (spec/tasks.md "Text (IMDB, byte level)").

Source: Hugging Face `stanfordnlp/imdb` (splits train/test; columns `text`, `label`), or a local
folder with the same layout. As the official pipeline does, the test split is also the validation
split (IMDB has none). Each review's UTF-8 bytes become tokens 1..256 (0 = padding), truncated to
`max_len` (4096 as in the paper and later work; the released config says 1000: every record says
which length it used).
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

TOKENIZATION = "bytes-v1 (UTF-8 byte + 1; 0 = padding)"


@dataclass
class TextConfig(TaskConfig):
    source: str = "hf"
    hf_dataset: str = "stanfordnlp/imdb"
    SOURCES: ClassVar[tuple] = ("hf",)


def byte_tokens(text: str, max_len: int) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)[:max_len].astype(np.int16) + 1


def write_text_split(partial: Path, split: str, texts, labels, max_len: int, where: str):
    tokens = open_tokens(partial, split, (len(texts), max_len))
    for row, text in enumerate(tqdm(texts, desc=f"text: tokenize {split}", leave=False)):
        ids = byte_tokens(text, max_len)
        tokens[row, :len(ids)] = ids
    tokens.flush()
    if any(label not in (0, 1) for label in labels):
        raise DataError(f"{where}: labels must be 0/1")
    save_labels(partial, split, labels)


@register_task_family("text", TextConfig)
def load_splits(config: TextConfig, data_dir: str) -> TaskData:
    key = cache_key(dataset=config.hf_dataset, max_len=config.max_len, tokenization=TOKENIZATION)

    def build(partial: Path):
        splits = load_hf_splits(config.hf_dataset, family_data_dir(data_dir, "text") / "hf", config.name,
                                columns=("text", "label"))
        train, test = splits["train"], splits["test"]
        write_text_split(partial, "train", train["text"], train["label"], config.max_len, config.hf_dataset)
        write_text_split(partial, "test", test["text"], test["label"], config.max_len, config.hf_dataset)
        for suffix in ("tokens", "labels"):  # official: validation = test
            (partial / f"val_{suffix}.npy").write_bytes((partial / f"test_{suffix}.npy").read_bytes())

    splits = cached_splits(family_data_dir(data_dir, "text") / f"cache-{key}", build)
    return TaskData(**splits, vocab_size=257, num_classes=2, tokenization=f"{TOKENIZATION}, max_len {config.max_len}")
