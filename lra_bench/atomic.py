"""Atomic file writes: a private temporary file in the target's folder, flushed to disk, then renamed
over the target. A reader sees the old file or the new one, never a torn one, whether the writer is
killed or another process writes the same file at the same time (os.replace is atomic on POSIX)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", newline: str | None = None):
    """`with atomic_write(path) as fh:` writes `path` whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
