"""One run, from a composed config to a results record (the Hydra job body).

The record is written when the run starts (status `running`) and again when it ends. Any failure
becomes a record with its status (`failed`, `oom`, `diverged`) and the last line of the error, and
the exception does not escape: one failed run never stops a sweep (lessons.md, "Harness fragility").
A run whose record is already complete is skipped (`rerun=true` trains it anew); an incomplete one
resumes from `<paths.checkpoint_dir>/<run id>/last.pt` (lessons.md, "Sweeps": LHT#535). Under
torchrun only rank 0 writes records, checkpoints and W&B.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import random
import socket
import time
import traceback
from datetime import datetime, timezone

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from . import __version__
from .config import RunConfig, validate_run_config
from .data import load_task
from .errors import LraBenchError
from .model import Classifier
from .results import RECORD_VERSION, RunRecord, config_hash, read_record, run_id, variant_forms, write_record
from .tracking import Tracker
from .device import describe_device, resolve_device
from .train import DataParallel, Diverged, Trainer


def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def software_versions() -> dict:
    import hydra
    import omegaconf

    return {"lra_bench": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "hydra": hydra.__version__, "omegaconf": omegaconf.__version__,
            "cuda": torch.version.cuda, "platform": platform.platform()}


def classify_failure(err: BaseException) -> str:
    if isinstance(err, Diverged):
        return "diverged"
    if isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower():
        return "oom"
    return "failed"


def error_line(err: BaseException) -> str:
    """The last line a user needs: `Type: message` (first line of the message only)."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {message}" if not isinstance(err, LraBenchError) else message


def job_device(requested: str) -> str:
    """In a parallel multirun on a multi-GPU machine, job n gets GPU n mod count (lessons.md, "Sweeps")."""
    if requested != "auto" or torch.cuda.device_count() < 2:
        return requested
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra = HydraConfig.get()
        if hydra.mode == RunMode.MULTIRUN:
            return f"cuda:{hydra.job.num % torch.cuda.device_count()}"
    except ValueError:  # not inside a Hydra job
        pass
    return requested


def run_experiment(cfg: DictConfig) -> dict:
    """Train and evaluate one configuration; return (and store) its record, whatever happens."""
    run: RunConfig = validate_run_config(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    hash_ = config_hash(resolved)
    rid = run_id(run.task.name, run.attention.name, run.seed, hash_)
    checkpoint_dir = os.path.join(run.paths.checkpoint_dir, rid)
    done = read_record(run.paths.store_dir, rid)
    if done and done.get("status") == "ok" and not run.rerun:
        return {**done, "skipped": True}
    if run.rerun:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    parallel = DataParallel()
    if parallel.world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    run.trainer.device = job_device(run.trainer.device)
    if parallel.world > 1 and run.trainer.device == "auto" and torch.cuda.is_available():
        run.trainer.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    record = {
        "kind": RunRecord.kind, "record_version": RECORD_VERSION, "run_id": rid, "config_hash": hash_,
        "task": run.task.name, "attention": run.attention.name, "forms": variant_forms(run.attention.name),
        "model": run.model.name, "seed": run.seed,
        "recipe": resolved.get("recipe", {}), "status": "running", "error": None,
        "started_at": datetime.now(timezone.utc).isoformat(), "host": socket.gethostname(),
        "output_dir": run.paths.output_dir, "software": software_versions(), "config": resolved,
    }
    write = (lambda rec: write_record(run.paths.store_dir, rec)) if parallel.is_main else (lambda rec: None)
    write(record)
    if run.trainer.num_threads:
        torch.set_num_threads(run.trainer.num_threads)
    seed_everything(run.seed)
    tracker = None
    start = time.perf_counter()
    exit_code = 1
    try:
        data = load_task(run.task, run.paths.data_dir)
        model = Classifier(run.model, run.attention, data.vocab_size, run.task.max_len, data.num_classes,
                           two_tower=getattr(run.task, "two_tower", False))
        record["num_parameters"] = sum(p.numel() for p in model.parameters())
        record["tokenization"] = data.tokenization
        record["data_sizes"] = {s: len(getattr(data, s)) for s in ("train", "val", "test")}
        logger = run.logger if parallel.is_main else dataclasses.replace(run.logger, backend="none")
        tracker = Tracker(logger, rid, run.paths.output_dir, resolved, [run.task.name, run.attention.name])
        record["wandb"] = {"path": tracker.path, "mode": run.logger.mode if tracker.run else "off",
                           "dir": getattr(tracker, "dir", None)}
        trainer = Trainer(model, data, run.trainer, run.seed, checkpoint_dir, tracker, parallel)
        device = trainer.device
        record["device"] = describe_device(device)
        result = trainer.fit()
        record.update(status="ok", metrics=result.metrics, throughput=result.throughput, history=result.history,
                      loss_curve=result.loss_curve, resumed_from_step=result.resumed_from,
                      steps=run.trainer.max_steps, checkpoint_dir=checkpoint_dir)
        tracker.summary({**result.metrics, **result.throughput})
        exit_code = 0
    except Exception as err:  # noqa: BLE001 - every failure becomes a record, never a stopped sweep
        record.update(status=classify_failure(err), error=error_line(err),
                      traceback=traceback.format_exc(limit=-8))
        record.setdefault("device", describe_device(resolve_device(run.trainer.device)))
    finally:
        record["wall_seconds"] = time.perf_counter() - start
        record["finished_at"] = datetime.now(timezone.utc).isoformat()
        if tracker is not None:
            tracker.finish(exit_code)
        write(record)
        if parallel.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return record
