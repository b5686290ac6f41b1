"""Tokenized splits cached once as memory-mapped .npy files; training reads them, never re-tokenizes.

A cache folder holds `<split>_tokens.npy` (int16 token ids, right-padded with PAD_ID) and
`<split>_labels.npy` for train, val and test, plus a `COMPLETE` marker. It is built in a private
`.partial-*` folder and renamed into place, so an interrupted `prepare` never leaves a cache that looks
whole, and parallel jobs building the same cache keep whichever finished first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from filelock import FileLock

from ..atomic import user_mode
from . import Split

SPLITS = ("train", "val", "test")
TOKEN_DTYPE = np.int16


def cache_key(**parts) -> str:
    """A short stable hash of everything that determines the cached tokens."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def open_tokens(folder: Path, split: str, shape: tuple) -> np.memmap:
    """A writable, zero-filled (= all padding) token array for a split being built."""
    return np.lib.format.open_memmap(folder / f"{split}_tokens.npy", mode="w+", dtype=TOKEN_DTYPE, shape=shape)


def save_labels(folder: Path, split: str, labels) -> None:
    np.save(folder / f"{split}_labels.npy", np.asarray(labels, dtype=np.int64))


INTEGRITY_FILE = "integrity.json"


def save_integrity(folder: Path, listed: int, dropped: dict, first: str | None, where: str) -> None:
    """Keep a cache's lost-example counts beside it (read by every run: `load_integrity`), and warn once,
    when the cache is built, in one line."""
    dropped = {reason: n for reason, n in dropped.items() if n}
    (folder / INTEGRITY_FILE).write_text(json.dumps({"listed": listed, "dropped": dropped, "first": first}))
    if dropped:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items()))
        print(f"lra-bench: warning: {where}: {sum(dropped.values())} of {listed} examples lost ({reasons}; "
              f"first: {first})", file=sys.stderr, flush=True)


def load_integrity(folder: Path) -> dict:
    path = Path(folder) / INTEGRITY_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def cached_splits(folder: Path, build: Callable[[Path], None]) -> dict[str, Split]:
    """Load the cache in `folder`, building it first with `build(partial_folder)` if needed."""
    folder = Path(folder)
    if not (folder / "COMPLETE").is_file():
        with preparation_lock(folder):
            if not (folder / "COMPLETE").is_file():  # another job may have built it while we waited
                _build(folder, build)
    return {split: Split(torch.from_numpy(np.load(folder / f"{split}_tokens.npy", mmap_mode="c")),
                         torch.from_numpy(np.load(folder / f"{split}_labels.npy")))
            for split in SPLITS}


def preparation_lock(folder: Path) -> FileLock:
    """`<folder>.lock`: parallel jobs needing the same data wait for the one preparing it instead of
    each preparing it again (the rename into place keeps it whole either way)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(folder.parent / f"{folder.name}.lock")


def _build(folder: Path, build: Callable[[Path], None]):
    """Build in a private `.partial-*` folder, then rename it into place."""
    partial = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f"{folder.name}.partial-"))
    partial.chmod(user_mode(directory=True))  # mkdtemp's 0700 would hide a shared cache from the group
    try:
        build(partial)
        (partial / "COMPLETE").write_text("ok\n")
        if folder.exists() and not (folder / "COMPLETE").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # left by an older, non-atomic build
        os.replace(partial, folder)
    except OSError:
        if not (folder / "COMPLETE").is_file():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # ours, if another job's cache won the race
