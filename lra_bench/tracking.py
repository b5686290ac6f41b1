"""Weights & Biases logging. Offline by default, no account needed (lessons.md, "Weights & Biases").

Each run gets its own W&B directory inside its output dir (offline runs sync with `wandb sync
<output_dir>/wandb/offline-run-*`), and `finish()` always runs, so the next job of a multirun in the
same process never reuses this run. W&B is never the only store: the local record is.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import LoggerConfig


class Tracker:
    """Thin wrapper so the trainer logs the same way with W&B on or off (`logger.backend=none`)."""

    def __init__(self, config: LoggerConfig, run_name: str, output_dir: str, resolved_config: dict,
                 tags: list[str]):
        self.run = None
        self.path = None
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
                              name=run_name, config=resolved_config, tags=tags, reinit="finish_previous",
                              settings=settings)
        self.path = f"{self.run.project}/{self.run.id}" if config.mode == "offline" else self.run.path
        self.dir = self.run.dir

    def log(self, metrics: dict, step: int):
        if self.run is not None:
            self.run.log(metrics, step=step)

    def summary(self, metrics: dict):
        if self.run is not None:
            self.run.summary.update(metrics)

    def finish(self, exit_code: int = 0):
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None
