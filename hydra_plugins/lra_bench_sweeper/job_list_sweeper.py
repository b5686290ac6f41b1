"""A Hydra sweeper that launches a given list of jobs in ONE call of the launcher.

Hydra's basic sweeper takes the cartesian product of one command line; a sweep whose tasks each
bring their own overrides (`lra-bench sweep`) is not one product, and one multirun per task means one
job array per task, run one after another under submitit. `lra-bench sweep` writes every job's
overrides to a JSON file and names it in `hydra.sweeper.jobs_file`; this sweeper hands them all to
the launcher at once: one job array under submitit, every joblib slot busy, one Ray batch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


class JobListSweeper(Sweeper):
    def __init__(self, jobs_file: Optional[str] = None):
        self.jobs_file = jobs_file
        self.config: Optional[DictConfig] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(hydra_context=hydra_context,
                                                                task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        if not self.jobs_file:
            raise ValueError("hydra.sweeper.jobs_file: expected the JSON list of job overrides lra-bench sweep writes")
        jobs = json.loads(Path(self.jobs_file).read_text())
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        return [self.launcher.launch(jobs, initial_job_idx=0)] if jobs else []
