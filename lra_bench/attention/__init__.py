"""Attention variants. Every module in this folder is imported, so a new file registers itself.

Variants outside the package load from the `lra_bench.attentions` entry-point group or from the
paths in `LRA_BENCH_INCLUDE` (files or folders of .py files, separated by ':'), as
lm-evaluation-harness's `--include_path` does (lessons.md, "What good harnesses do").
"""

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path

from .registry import (Attention, attention_schema, build_attention, get_attention_class, hyperparameters,
                       list_attentions, register_attention)

__all__ = ["Attention", "attention_schema", "build_attention", "get_attention_class", "hyperparameters",
           "list_attentions", "register_attention"]


def _import_package_modules():
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def _import_plugins():
    """Load every plugin; one that fails to import is reported in one line on stderr and skipped, so a
    broken plugin never blocks the built-in variants or the other plugins."""
    sources = [(f"entry point {e.name} = {e.value}", e.load)
               for e in importlib.metadata.entry_points(group="lra_bench.attentions")]
    for item in filter(None, os.environ.get("LRA_BENCH_INCLUDE", "").split(os.pathsep)):
        path = Path(item)
        sources += [(f"LRA_BENCH_INCLUDE {file}", functools.partial(_import_file, file))
                    for file in (sorted(path.glob("*.py")) if path.is_dir() else [path])]
    for where, load in sources:
        try:
            load()
        except Exception as err:  # noqa: BLE001 - any failure of a third party's code: skip it, say so
            SKIPPED_PLUGINS[where] = f"{type(err).__name__}: {err}"
            print(f"lra-bench: warning: skipped plugin ({where}): {type(err).__name__}: {err}", file=sys.stderr)


def _import_file(file: Path):
    if not file.is_file():
        raise FileNotFoundError("no such file or folder")
    spec = importlib.util.spec_from_file_location(f"lra_bench_user.{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


SKIPPED_PLUGINS: dict[str, str] = {}  # where -> why, for plugins that failed to load
_import_package_modules()
_import_plugins()
