"""Pathfinder and Path-X (spec/tasks.md "Pathfinder (32x32) and Path-X (128x128)").

One loader for the official release layout and for ours:
`<root>/pathfinder<res>/<difficulty>/imgs/<k>/sample_<n>.png` with `metadata/<k>.npy`, each metadata
file either text (the release: one space-separated row per image) or a binary NumPy array of strings
(the authors' generator run today); the NumPy magic bytes tell them apart. Fields per row: image
subfolder, file name, index, label, continuity, contour length, distractor length, paddle length,
paddle thickness, paddle margin, number of paddle contrasts. Empty or unreadable images (the
release has one: pathfinder32/curv_baseline/imgs/0/sample_172.png) are skipped and counted.
Rows, in metadata-file order, are split 80% / 10% / 10%. Pixels become tokens 1..256 (0 = padding).
"""

from __future__ import annotations

import io
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from ..atomic import atomic_write
from ..errors import ConfigError, DataError
from . import TaskConfig, TaskData, find_in_release, register_task_family, release_root
from .cache import (cache_key, cached_splits, load_integrity, open_tokens, preparation_lock, save_integrity,
                    save_labels)
from .pathfinder_generator import GENERATOR_VERSION, generate_image, preset
from .pathfinder_stats import pathfinder_statistics, statistics_line

DIFFICULTIES = {"curv_baseline": 6, "curv_contour_length_9": 9, "curv_contour_length_14": 14}
TOKENIZATION = "pixels-v1 (gray value + 1; 0 = padding)"
NUMPY_MAGIC = b"\x93NUMPY"


@dataclass
class PathfinderConfig(TaskConfig):
    """`resolution` 32 (Pathfinder) or 128 (Path-X), 64 and 256 as options, 16 for CPU smoke runs;
    hard level by default."""

    resolution: int = 32
    difficulty: str = "curv_contour_length_14"
    num_images: int = 200_000
    images_per_file: int = 1000
    data_seed: int = 0
    workers: int = 0
    contour_length: int = 0  # 0: the difficulty's (6, 9 or 14); set for non-release sizes only

    def __post_init__(self):
        super().__post_init__()
        if self.difficulty not in DIFFICULTIES:
            raise ConfigError(f"task.difficulty: expected one of {', '.join(DIFFICULTIES)}, got '{self.difficulty}'")
        if self.resolution not in (16, 32, 64, 128, 256):
            raise ConfigError(f"task.resolution: expected 16, 32, 64, 128 or 256, got {self.resolution}")
        if self.max_len != self.resolution**2:
            raise ConfigError(f"task.max_len: must be resolution^2 = {self.resolution**2}, got {self.max_len}")


# -- writing the release layout -------------------------------------------------------------------

def _generate_file(args) -> list[str]:
    """Write the images of metadata file k; return its metadata rows (text form of the release)."""
    folder, params, k, first, count, seed = args
    rng = np.random.default_rng([seed, k, 7])
    labels = rng.permutation(np.arange(count) % 2)  # balanced inside every file
    (folder / "imgs" / str(k)).mkdir(parents=True, exist_ok=True)
    rows = []
    for i, label in enumerate(labels):
        n = first + i
        image, margin = generate_image(params, int(label), seed, n)
        Image.fromarray(image, mode="L").save(folder / "imgs" / str(k) / f"sample_{n}.png")
        rows.append(f"imgs/{k} sample_{n}.png {n} {label} {params.continuity} {params.contour_length} "
                    f"{params.distractor_length} {params.paddle_length} {params.paddle_thickness} "
                    f"{margin} 1")
    return rows


def generate_release(folder: Path, config: PathfinderConfig) -> Path:
    """Generate `num_images` images into `folder` in the release layout, in parallel over processes."""
    params = preset(config.resolution, config.contour_length or DIFFICULTIES[config.difficulty])
    files = -(-config.num_images // config.images_per_file)
    jobs = [(folder, params, k, k * config.images_per_file,
             min(config.images_per_file, config.num_images - k * config.images_per_file), config.data_seed)
            for k in range(files)]
    (folder / "metadata").mkdir(parents=True, exist_ok=True)
    workers = config.workers or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        results = pool.map(_generate_file, jobs)
        for (_, _, k, *_), rows in tqdm(zip(jobs, results), total=len(jobs), desc="pathfinder: generate",
                                         leave=False):
            with atomic_write(folder / "metadata" / f"{k}.npy") as fh:
                fh.write("\n".join(rows) + "\n")
    return folder


# -- reading the release layout -------------------------------------------------------------------

def read_metadata(path: Path) -> list[list[str]]:
    """Rows of one metadata file, text or binary NumPy form."""
    raw = path.read_bytes()
    if raw.startswith(NUMPY_MAGIC):
        try:
            array = np.load(io.BytesIO(raw), allow_pickle=False)
        except (ValueError, EOFError, OSError) as err:  # truncated, or a pickled object array
            raise DataError(f"{path}: unreadable NumPy metadata ({' '.join(str(err).split())[:100]}); expected "
                            "the release's text rows or a NumPy array of strings (no pickles)") from None
        return [[str(x) for x in row] for row in np.atleast_2d(array) if row.size]
    rows = [line.split() for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]
    for lineno, row in enumerate(rows, start=1):
        if len(row) < 4 or row[3] not in ("0", "1"):
            raise DataError(f"{path}:{lineno}: expected 'imgs/<k> sample_<n>.png <index> <label 0/1> ...', "
                            f"got {' '.join(row)[:80]!r}")
    return rows


def find_level_folder(config: PathfinderConfig, data_dir: str) -> Path:
    """The `<difficulty>` folder of the release; `task.release_dir` may name it or any parent of it."""
    root = release_root(config, data_dir)
    sub = Path(f"pathfinder{config.resolution}") / config.difficulty

    def holds(folder):
        return (folder / "metadata").is_dir()

    folder = find_in_release(root, config.difficulty, holds) or find_in_release(root, sub, holds)
    if folder is not None:
        return folder
    raise DataError(f"{root}: no Pathfinder release found (looked for {sub}/metadata/*.npy under it); unpack "
                    "lra_release.gz from gs://long-range-arena/lra_release and set task.release_dir, "
                    "or use task.source=generate")


def _metadata_files(folder: Path) -> list[Path]:
    files = sorted((folder / "metadata").glob("*.npy"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    if not files:
        raise DataError(f"{folder / 'metadata'}: no metadata/<k>.npy files; expected the release layout")
    return files


def _read_image(path: Path, resolution: int):
    try:
        if path.stat().st_size == 0:
            return None
        with Image.open(path) as img:
            array = np.asarray(img.convert("L"))
    except (OSError, UnidentifiedImageError):
        return None
    if array.shape != (resolution, resolution):
        raise DataError(f"{path}: expected a {resolution}x{resolution} image, got {array.shape[1]}x{array.shape[0]}")
    return array


def build_cache(partial: Path, folder: Path, resolution: int) -> dict:
    """Decode every listed PNG once into the split token arrays; returns counts (kept, skipped)."""
    rows = [row for path in _metadata_files(folder) for row in read_metadata(path)]
    if not rows:
        raise DataError(f"{folder / 'metadata'}: every metadata file is empty; expected one row per image "
                        "('imgs/<k> sample_<n>.png <index> <label 0/1> ...')")
    n = len(rows)
    bounds = {"train": (0, int(0.8 * n)), "val": (int(0.8 * n), int(0.9 * n)), "test": (int(0.9 * n), n)}
    skipped, first = 0, None
    for split, (lo, hi) in bounds.items():
        tokens = open_tokens(partial, split, (hi - lo, resolution * resolution))
        labels, kept = [], 0
        for row in tqdm(rows[lo:hi], desc=f"pathfinder: decode {split}", leave=False):
            image = _read_image(folder / row[0] / row[1], resolution)
            if image is None:
                skipped += 1
                first = first or str(folder / row[0] / row[1])
                continue
            tokens[kept] = image.reshape(-1).astype(np.int16) + 1
            labels.append(int(row[3]))
            kept += 1
        tokens.flush()
        del tokens
        if kept < hi - lo:  # drop the rows of skipped images
            full = np.load(partial / f"{split}_tokens.npy")[:kept]
            np.save(partial / f"{split}_tokens.npy", full)
        save_labels(partial, split, labels)
    save_integrity(partial, n, {"unreadable_or_missing_images": skipped}, first, f"Pathfinder {folder}")
    return {"images": n - skipped, "skipped": skipped}


def generated_statistics_line(config: PathfinderConfig, data: TaskData, max_pixels: int = 2_000_000) -> str:
    """The issue-18 statistics of the first training images (up to `max_pixels` pixels: ~1,950 at
    32x32, 122 at 128x128), one line for `lra-bench prepare`, to compare with the authors' values in
    tasks/pathfinder/README.md."""
    n = min(len(data.train), max(2, max_pixels // config.resolution**2))
    images = (data.train.tokens[:n].numpy() - 1).reshape(n, config.resolution, config.resolution).astype(np.uint8)
    labels = data.train.labels[:n].numpy()
    return statistics_line(pathfinder_statistics(images, labels, preset(config.resolution).marker_radius))


@register_task_family("pathfinder", PathfinderConfig)
def load_splits(config: PathfinderConfig, data_dir: str) -> TaskData:
    if config.source == "generate":
        key = cache_key(resolution=config.resolution, difficulty=config.difficulty, contour=config.contour_length,
                        n=config.num_images, per_file=config.images_per_file, seed=config.data_seed,
                        generator=GENERATOR_VERSION)
        folder = Path(data_dir) / "pathfinder" / "data" / f"generated-{key}" / f"pathfinder{config.resolution}" / \
            config.difficulty
        if not (folder / "COMPLETE").is_file():
            with preparation_lock(folder):  # a parallel job generating the same images: wait for it
                if not (folder / "COMPLETE").is_file():
                    generate_release(folder, config)
                    (folder / "COMPLETE").write_text("ok\n")
    else:
        folder = find_level_folder(config, data_dir)
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in _metadata_files(folder)]
    key = cache_key(folder=str(folder.resolve()), metadata=stamp, tokenization=TOKENIZATION, layout=2)
    cache = Path(data_dir) / "pathfinder" / "data" / f"cache-{key}"
    splits = cached_splits(cache, lambda partial: build_cache(partial, folder, config.resolution))
    return TaskData(**splits, vocab_size=257, num_classes=2, tokenization=TOKENIZATION,
                    integrity=load_integrity(cache))
