"""Weights & Biases logging. Offline by default, no account needed (lessons.md, "Weights & Biases").

By W&B's conventions (issue 19): runs are grouped (`group`: the task of a training run or of a
`diagnose`, the command otherwise) and typed (`job_type`: train, bench, diagnose, report); a training
run's W&B `id` is derived from its run id and opened with `resume="allow"`, so a run resumed from
`last.pt` continues its W&B run instead of starting a second one; `val/accuracy` is summarised by
its max; `num_parameters` is in the config and the summary. Each run gets its own W&B directory
inside its output dir; offline runs upload with `lra-bench sync` (every `offline-run-*` folder under
outputs/ and multirun/). `finish()` always runs, so the next job of a multirun in the same process
never reuses this run.
W&B is never the only store: the local record is.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .config import LoggerConfig

_WANDB_ID_MAX = 64  # W&B run ids: letters, digits, '-' and '_'; kept short


def wandb_run_id(run_id: str, attempt: str | None = None) -> str:
    """The W&B id of a run: its run id (characters W&B refuses replaced), hashed when too long; `attempt`
    (a `rerun=true` start) makes a fresh one, since a rerun starts again from step 0."""
    base = re.sub(r"[^A-Za-z0-9_-]", "-", run_id + (f"-{attempt}" if attempt else ""))
    if len(base) <= _WANDB_ID_MAX:
        return base
    return base[:_WANDB_ID_MAX - 13] + "-" + hashlib.sha256(base.encode()).hexdigest()[:12]


class Tracker:
    """Thin wrapper so the trainer logs the same way with W&B on or off (`logger.backend=none`)."""

    def __init__(self, config: LoggerConfig, run_name: str, output_dir: str, resolved_config: dict,
                 tags: list[str], group: str | None = None, job_type: str = "train", run_id: str | None = None):
        self.run = None
        self.path = None
        self.id = None
        if config.backend != "wandb" or config.mode == "disabled":
            return
        import wandb

        wandb_dir = Path(output_dir)
        wandb_dir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("WANDB_SILENT", "true")
        # No console capture: every metric is logged explicitly, and capturing stdout/stderr cost ~1-2 s
        # of a ~18 s CPU run here. System stats stay on (GPU utilisation is worth having).
        settings = wandb.Settings(console="off")
        self.run = wandb.init(project=config.project, entity=config.entity, mode=config.mode, dir=str(wandb_dir),
                              name=run_name, config=resolved_config, tags=tags, group=group, job_type=job_type,
                              id=run_id, resume="allow" if run_id else None, reinit="finish_previous",
                              settings=settings)
        if job_type == "train":
            self.run.define_metric("val/accuracy", summary="max")
            self.run.define_metric("val/loss", summary="min")
        self.id = self.run.id
        self.path = f"{self.run.project}/{self.run.id}" if config.mode == "offline" else self.run.path
        self.dir = self.run.dir

    def log(self, metrics: dict, step: int | None = None):
        if self.run is not None:
            self.run.log(metrics, step=step)

    def summary(self, metrics: dict):
        if self.run is not None:
            self.run.summary.update(metrics)

    def config(self, values: dict):
        """Add to the run's config (a value known only after init, e.g. num_parameters)."""
        if self.run is not None:
            self.run.config.update(values, allow_val_change=True)

    def table(self, key: str, frame, plots: dict[str, Path] | None = None):
        """Log a pandas frame as a `wandb.Table`, and image files beside it."""
        if self.run is None:
            return
        import wandb

        payload = {key: wandb.Table(dataframe=frame.reset_index() if frame.index.name else frame)}
        payload.update({name: wandb.Image(str(path)) for name, path in (plots or {}).items() if Path(path).is_file()})
        self.run.log(payload)

    def finish(self, exit_code: int = 0):
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None


def command_tracker(job_type: str, output_dir: str | Path, settings: dict, group: str | None = None) -> Tracker:
    """A tracker for a command outside Hydra (`bench`, `diagnose`, `report`): project lra-bench, mode from
    WANDB_MODE (offline when unset), typed by the command and grouped by `group` (the task of a
    `diagnose`), or else by the command."""
    config = LoggerConfig(mode=os.environ.get("WANDB_MODE", "offline"))
    return Tracker(config, job_type, str(output_dir), settings, tags=[job_type], group=group or job_type,
                   job_type=job_type)


def offline_runs(roots: list[Path]) -> list[Path]:
    """Every `offline-run-*` folder under the given folders (any depth)."""
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("offline-run-*") if p.is_dir())
