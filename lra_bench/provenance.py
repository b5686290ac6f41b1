"""What code computed a result: the variant's source, the package version, the git state.

A run id covers the config AND the code (issue 19): `code_identity` hashes the source files of the
registered attention class and of its base classes (wherever they were loaded from: the package,
an `LRA_BENCH_INCLUDE` path or an entry point), together with the package version. Editing a
variant's `forward` therefore gives a new run id, so the same command trains again instead of
skipping to the old accuracy, and a checkpoint written by other code is never resumed. The git
commit and dirty flag are stated in the record but left out of the id: every commit of the
repository would otherwise retrain every run.
"""

from __future__ import annotations

import hashlib
import inspect
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from . import __version__


def _class_files(cls: type) -> set[str]:
    """Source files of `cls` and its project-side base classes (torch's and Python's left out).
    A module loaded by path (LRA_BENCH_INCLUDE) is not in sys.modules: its file comes from the
    functions the class defines."""
    files = set()
    for klass in cls.__mro__:
        module = klass.__module__ or ""
        if module == "builtins" or module.split(".")[0] == "torch":
            continue
        file = getattr(sys.modules.get(module), "__file__", None)
        if file:
            files.add(file)
        for member in vars(klass).values():
            function = getattr(member, "__func__", member)
            if callable(function):  # a decorated method (registry's float32 wrapper): its own source
                function = inspect.unwrap(function)
            code = getattr(function, "__code__", None)
            if code is not None:
                files.add(code.co_filename)
    return {f for f in files if Path(f).is_file()}


def variant_source_hash(attention: str) -> str | None:
    """sha256 (12 hex) of the source files of a registered variant; None for a name not registered.
    The files are hashed by content, in content order, so a moved checkout keeps the hash."""
    from .attention import get_attention_class, list_attentions

    if attention not in list_attentions():
        return None
    digests = sorted(hashlib.sha256(Path(f).read_bytes()).hexdigest()
                     for f in _class_files(get_attention_class(attention)))
    return hashlib.sha256("".join(digests).encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def git_state() -> dict:
    """{"commit", "dirty"} of the checkout the package runs from; both None outside a git checkout."""
    root = Path(__file__).resolve().parents[1]

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def code_identity(attention: str) -> dict:
    """What the record states about the code: `code_hash` (in the run id: the variant's source and the
    package version), `variant_source_hash`, `package_version`, `git_commit`, `git_dirty`."""
    source = variant_source_hash(attention)
    code_hash = hashlib.sha256(f"{source}|{__version__}".encode()).hexdigest()[:8]
    git = git_state()
    return {"code_hash": code_hash, "variant_source_hash": source, "package_version": __version__,
            "git_commit": git["commit"], "git_dirty": git["dirty"]}
