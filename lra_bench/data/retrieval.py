"""Retrieval: ACL Anthology Network citation pairs, byte level (spec/tasks.md "Retrieval").

Release files `tsv_data/new_aan_pairs.{train,eval,test}.tsv`: tab-separated, no header, columns
label (0.0/1.0), id1, id2, text1, text2. Each document's UTF-8 bytes become tokens 1..256, truncated
to `max_len` (4000); an example is a [2, max_len] pair for the two-tower model (both documents
through one encoder; features combined as [u, v, u*v, u-v] by default, `model.two_tower_combine=concat`
as in the released JAX code). PyTorch ports score ~20 points above the JAX paper here (Nystromformer
issue #11): records carry this pipeline's version.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from tqdm.auto import tqdm

from ..errors import DataError
from . import TaskConfig, TaskData, family_data_dir, find_in_release, register_task_family, release_root
from .cache import cache_key, cached_splits, open_tokens, save_labels
from .text import byte_tokens

TOKENIZATION = "aan-bytes-v1 (UTF-8 byte + 1 per document; 0 = padding)"
FILES = {"train": "new_aan_pairs.train.tsv", "val": "new_aan_pairs.eval.tsv", "test": "new_aan_pairs.test.tsv"}


@dataclass
class RetrievalConfig(TaskConfig):
    source: str = "release"
    two_tower: bool = True
    SOURCES: ClassVar[tuple] = ("release",)


def find_tsv_folder(config: RetrievalConfig, data_dir: str) -> Path:
    root = release_root(config, data_dir)
    folder = find_in_release(root, "tsv_data", lambda f: (f / FILES["train"]).is_file())
    if folder is not None:
        return folder
    raise DataError(f"{root}: {FILES['train']} not found (looked in it and its tsv_data/); unpack lra_release.gz "
                    "from gs://long-range-arena/lra_release and set task.release_dir")


def read_pairs(path: Path) -> list[tuple[int, str, str]]:
    if not path.is_file():
        raise DataError(f"{path}: Retrieval file not found; expected the LRA release's tsv_data/{path.name}")
    csv.field_size_limit(sys.maxsize)
    try:
        return _read_rows(path)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start} of a "
                        "read block); expected the release's tab-separated UTF-8 pairs") from None


def _read_rows(path: Path) -> list[tuple[int, str, str]]:
    pairs = []
    with open(path, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            try:
                label = float(row[0])
            except (ValueError, IndexError):
                label = None
            if len(row) != 5 or label not in (0.0, 1.0):
                raise DataError(f"{path}:{lineno}: expected 5 tab-separated columns 'label id1 id2 text1 text2' "
                                f"with label 0.0/1.0 (no header), got {len(row)} columns starting {row[:1]!r:.40}")
            pairs.append((int(label), row[3], row[4]))
    return pairs


@register_task_family("retrieval", RetrievalConfig)
def load_splits(config: RetrievalConfig, data_dir: str) -> TaskData:
    folder = find_tsv_folder(config, data_dir)
    stamp = {s: (f, (folder / f).stat().st_size if (folder / f).is_file() else None) for s, f in FILES.items()}
    key = cache_key(folder=str(folder.resolve()), files=stamp, max_len=config.max_len, tokenization=TOKENIZATION)

    def build(partial: Path):
        for split, name in FILES.items():
            pairs = read_pairs(folder / name)
            tokens = open_tokens(partial, split, (len(pairs), 2, config.max_len))
            for row, (_, first, second) in enumerate(tqdm(pairs, desc=f"retrieval: {split}", leave=False)):
                for side, text in enumerate((first, second)):
                    ids = byte_tokens(text, config.max_len)
                    tokens[row, side, :len(ids)] = ids
            tokens.flush()
            save_labels(partial, split, [label for label, _, _ in pairs])

    splits = cached_splits(family_data_dir(data_dir, "retrieval") / f"cache-{key}", build)
    return TaskData(**splits, vocab_size=257, num_classes=2, tokenization=TOKENIZATION)
