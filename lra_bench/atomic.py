"""Atomic file writes: a temporary file in the target's folder, flushed to disk, then renamed over
the target. A reader sees the old file or the new one, never a torn one, whether the writer is
killed or another process writes the same file at the same time (os.replace is atomic on POSIX).

The file ends with the permissions any file of the user gets (0644 under the usual umask 022), not
mkstemp's private 0600: a store or cache shared by a team or a cluster group stays readable.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def current_umask() -> int:
    """The process's umask (read from /proc where it exists: setting it to read it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def user_mode(directory: bool = False) -> int:
    """The mode `open` or `mkdir` would have given: 0666 (files) or 0777 (folders) less the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", newline: str | None = None):
    """`with atomic_write(path) as fh:` writes `path` whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, user_mode())
        with os.fdopen(fd, mode, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
