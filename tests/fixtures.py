"""Small data fixtures written in exactly the official formats (spec/tasks.md), for every task."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

IMDB_TEXTS = ["A wonderful film, truly moving.", "Terrible. I want my two hours back!", "Déjà vu: ok-ish " * 40,
              "Bad acting, worse plot.", "Loved every minute", "Meh"]


def write_imdb_like(root: Path) -> Path:
    """The Hugging Face stanfordnlp/imdb repository layout: plain_text/<split>-00000-of-00001.parquet."""
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["neg", "pos"])})
    folder = root / "plain_text"
    folder.mkdir(parents=True)
    for split, texts in (("train", IMDB_TEXTS), ("test", IMDB_TEXTS[::-1]), ("unsupervised", IMDB_TEXTS[:2])):
        labels = [i % 2 for i in range(len(texts))] if split != "unsupervised" else [-1] * len(texts)
        features_split = features if split != "unsupervised" else datasets.Features(
            {"text": datasets.Value("string"), "label": datasets.Value("int64")})
        datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features_split).to_parquet(
            str(folder / f"{split}-00000-of-00001.parquet"))
    return root


def write_cifar_like(root: Path, n_train=20, n_test=10) -> Path:
    """The Hugging Face uoft-cs/cifar10 layout: plain_text/<split>-00000-of-00001.parquet, columns img, label."""
    import datasets

    rng = np.random.default_rng(0)
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})
    folder = root / "plain_text"
    folder.mkdir(parents=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images = [Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(n)]
        images[0] = Image.fromarray(np.full((32, 32, 3), (255, 0, 0), dtype=np.uint8))  # pure red
        datasets.Dataset.from_dict({"img": images, "label": [i % 10 for i in range(n)]}, features=features).to_parquet(
            str(folder / f"{split}-00000-of-00001.parquet"))
    return root


def write_aan_like(tsv_dir: Path, n=(6, 3, 3)) -> Path:
    """lra_release/tsv_data/new_aan_pairs.{train,eval,test}.tsv: no header; label, id1, id2, text1, text2."""
    tsv_dir.mkdir(parents=True)
    for (split, count) in zip(("train", "eval", "test"), n):
        lines = [f"{float(i % 2)}\tpaper{i}a\tpaper{i}b\tAbstract {i}: we study attention.\tCited work {i}."
                 for i in range(count)]
        (tsv_dir / f"new_aan_pairs.{split}.tsv").write_text("\n".join(lines) + "\n")
    return tsv_dir


def write_pathfinder_release(level_dir: Path, n=12, binary_metadata=False, empty_image=None) -> Path:
    """pathfinder32/<level>/imgs/<k>/sample_<n>.png + metadata/<k>.npy, text (release) or binary NumPy."""
    rng = np.random.default_rng(0)
    rows = []
    (level_dir / "imgs" / "0").mkdir(parents=True)
    (level_dir / "metadata").mkdir()
    for i in range(n):
        path = level_dir / "imgs" / "0" / f"sample_{i}.png"
        if i == empty_image:
            path.write_bytes(b"")
        else:
            Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), mode="L").save(path)
        rows.append(["imgs/0", f"sample_{i}.png", str(i), str(i % 2), "1.0", "14", "4", "2", "0.5", "1", "1"])
    if binary_metadata:
        buffer = io.BytesIO()
        np.save(buffer, np.array(rows))
        (level_dir / "metadata" / "0.npy").write_bytes(buffer.getvalue())
    else:
        (level_dir / "metadata" / "0.npy").write_text("\n".join(" ".join(r) for r in rows) + "\n")
    return level_dir
