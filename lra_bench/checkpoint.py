"""Checkpoint files: written whole or not at all, read as data only, set aside when unreadable.

`last.pt` holds tensors, lists and numbers only (every RNG's state converted so), so it loads with
`torch.load(..., weights_only=True)`: a planted pickle is refused, never run. One that cannot be read
(truncated, corrupt, foreign, of an older layout) is renamed `last.pt.unreadable-<time>`, named in
one line, and the run starts again. A full disk while saving is one line naming the file.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_write
from .errors import LraBenchError


def capture_rng() -> dict:
    """Every RNG's state as tensors, lists and numbers only, so `last.pt` loads with weights_only=True."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {"torch": torch.get_rng_state(), "python": [version, list(internal), gauss],
            "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng(state: dict):
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = state["numpy"]
    np.random.set_state((numpy["name"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["cached_gaussian"]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def set_aside(path: Path, err: BaseException) -> Path:
    """Rename an unreadable checkpoint out of the way (kept for a post-mortem) and say so in one line."""
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    reason = " ".join(str(err).split())[:160] or type(err).__name__
    print(f"lra-bench: warning: {path}: unreadable checkpoint ({type(err).__name__}: {reason}); set aside as "
          f"{aside.name}, the run starts again from step 0", file=sys.stderr, flush=True)
    return aside


class CheckpointWriteError(LraBenchError):
    """A checkpoint could not be written (a full disk, a quota): said in one line naming the file."""


def atomic_save(obj, path: Path):
    """torch.save through `atomic_write`; a full disk (torch's `[enforce fail at inline_container.cc]`
    or ENOSPC) becomes one line naming the file, and the previous checkpoint stays whole."""
    try:
        with atomic_write(path, mode="wb") as fh:
            torch.save(obj, fh)
    except (OSError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and "inline_container" not in str(err) and "write" not in str(err).lower():
            raise
        raise CheckpointWriteError(f"{path}: could not write the checkpoint ({' '.join(str(err).split())[:120]}); "
                                   f"is the disk full? free space there or set paths.checkpoint_dir") from None
