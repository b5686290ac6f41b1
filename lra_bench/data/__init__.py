"""Task data: a registry of task families, each turning its config into tokenized splits.

A family module (`listops.py`, ...) registers its config schema and a `load_splits(config, data_dir)`
function that returns a `TaskData`. Data flows one way: config -> TaskData -> model -> trainer.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import torch

from ..errors import ConfigError, DataError, did_you_mean


@dataclass
class TaskConfig:
    """Fields every task node has (conf/task/<name>.yaml); families add their own."""

    name: str
    family: str
    num_classes: int
    max_len: int
    source: str = "generate"
    release_dir: str = ""
    max_dropped_fraction: float = 0.01  # dropped, unreadable or truncated examples above this fail the run

    SOURCES: ClassVar[tuple] = ("generate", "release")

    def __post_init__(self):
        if self.source not in self.SOURCES:
            raise ConfigError(f"task.source: expected one of {', '.join(self.SOURCES)}, got '{self.source}'")
        if not 0 <= self.max_dropped_fraction <= 1:
            raise ConfigError(f"task.max_dropped_fraction: expected a fraction in [0, 1], got {self.max_dropped_fraction}")


def family_data_dir(data_dir: str | Path, family: str) -> Path:
    """`<paths.data_dir>/<family>/data`: where a family keeps what it downloads, generates and caches."""
    return Path(data_dir) / family / "data"


def release_root(config: TaskConfig, data_dir: str) -> Path:
    """Where a task's LRA release files are looked for: `task.release_dir`, else tasks/<family>/data/lra_release."""
    return Path(config.release_dir or family_data_dir(data_dir, config.family) / "lra_release")


def find_in_release(root: Path, sub: str | Path, holds: Callable[[Path], bool]) -> Path | None:
    """The first folder `holds` accepts: `root` itself (task.release_dir named it), `root/sub`, or `sub`
    inside the unpacked archive's `lra_release/` (one or two levels, as lra_release.gz unpacks)."""
    for folder in (root, root / sub, root / "lra_release" / sub, root / "lra_release" / "lra_release" / sub):
        if holds(folder):
            return folder
    return None


IGNORE_LABEL = -100  # positions without a target in per-token tasks (F.cross_entropy's ignore_index)


@dataclass
class Split:
    """One tokenized split: `tokens` [n, max_len] right-padded with PAD_ID, `labels` [n] (one class
    per sequence) or [n, max_len] (per-token targets, IGNORE_LABEL where there is none)."""

    tokens: torch.Tensor
    labels: torch.Tensor

    def __len__(self):
        return len(self.labels)

    @property
    def lengths(self) -> torch.Tensor:
        return (self.tokens != PAD_ID).sum(dim=-1)

    def majority_rate(self) -> float:
        """Accuracy of always predicting the most frequent label: the chance row of the leaderboard."""
        labels = self.labels[self.labels != IGNORE_LABEL]
        return torch.bincount(labels).max().item() / len(labels)


@dataclass
class TaskData:
    """The three splits, and `integrity`: how many listed examples the loader dropped or cut, by reason
    (`{"listed": n, "dropped": {reason: count}, "first": where}`; empty when nothing was lost)."""

    train: Split
    val: Split
    test: Split
    vocab_size: int
    num_classes: int
    tokenization: str
    integrity: dict = field(default_factory=dict)


def check_integrity(config: TaskConfig, data: TaskData) -> None:
    """Fail the run in one line when more than `task.max_dropped_fraction` of the listed examples were
    dropped, unreadable or cut (the counts are in every record: runner.py)."""
    lost = sum((data.integrity.get("dropped") or {}).values())
    listed = data.integrity.get("listed") or 0
    if listed and lost / listed > config.max_dropped_fraction:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(data.integrity["dropped"].items()))
        raise DataError(f"task {config.name}: {lost} of {listed} examples lost ({reasons}; first: "
                        f"{data.integrity.get('first')}), above task.max_dropped_fraction="
                        f"{config.max_dropped_fraction}; fix the files or raise the limit (+task.max_dropped_fraction=<fraction>)")


PAD_ID = 0


@dataclass
class TaskFamily:
    schema: type
    load_splits: Callable[..., TaskData]


_FAMILIES: dict[str, TaskFamily] = {}


def register_task_family(name: str, schema: type):
    """Decorator on a family's `load_splits(config, data_dir) -> TaskData`."""

    def decorate(load_splits):
        _FAMILIES[name] = TaskFamily(schema, load_splits)
        return load_splits

    return decorate


def task_families() -> list[str]:
    """The registered task families, sorted."""
    return sorted(_FAMILIES)


def task_schema(family: str) -> type:
    if family not in _FAMILIES:
        raise ConfigError(f"task.family: unknown task family '{family}'; known: {', '.join(sorted(_FAMILIES))}"
                          f"{did_you_mean(family, _FAMILIES)}")
    return _FAMILIES[family].schema


def load_task(config, data_dir: str) -> TaskData:
    """Load (generating or reading the release files as configured) the task's tokenized splits;
    DataError when more examples were lost than `task.max_dropped_fraction` allows."""
    data = _FAMILIES[config.family].load_splits(config, data_dir)
    check_integrity(config, data)
    return data


for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
