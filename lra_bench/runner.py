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
import logging
import os
import platform
import shutil
import random
import socket
import sys
import time
import traceback
from datetime import datetime, timezone

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from . import __version__
from .config import RunConfig, validate_run_config
from .data import load_task
from .errors import ConfigError, LraBenchError
from .model import Classifier
from .ownership import Heartbeat, RunBusy, claim_run, owner
from .provenance import code_identity
from .results import (RECORD_VERSION, RunRecord, config_hash, read_record, record_path, run_id, setup_hash,
                      variant_forms, write_record)
from .tracking import Tracker, wandb_run_id
from .device import describe_device, resolve_device
from .train import DataParallel, Diverged, Trainer


log = logging.getLogger(__name__)


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


def device_label(requested: str) -> str:
    """`describe_device` of the requested device, or the name as given when it cannot be described
    (`trainer.device=cuda` without CUDA): the failure handler must not fail in its turn."""
    try:
        return describe_device(resolve_device(requested))
    except Exception:  # noqa: BLE001 - a label for a record, never a reason to stop a sweep
        return requested


def check_device_available(requested: str):
    """Fail a run asked to use CUDA on a machine without it in one line, before its data is prepared."""
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={requested}: CUDA is not available on {socket.gethostname()} "
                          f"(torch {torch.__version__}); expected trainer.device=auto or cpu here")


def store_record(store_dir: str, record: dict) -> bool:
    """Write a record; a store that cannot take it (unwritable, full) is said in one line on stderr and
    the run goes on: the run's result is lost, the sweep is not."""
    try:
        write_record(store_dir, record)
        return True
    except OSError as err:
        print(f"lra-bench: error: could not write the record of {record.get('run_id')} to {store_dir}: "
              f"{error_line(err)}", file=sys.stderr, flush=True)
        return False


def map_slurm_tasks_to_ranks():
    """Under SLURM with several tasks in a job (`tasks_per_node > 1`, or nodes) and no torchrun, each task
    is one DDP rank: RANK, WORLD_SIZE, LOCAL_RANK from SLURM's task variables (read by submitit's SLURM
    environment, under submitit or plain srun), the job's first node as master, a port derived from the
    job id (CUDA_VISIBLE_DEVICES kept: the runner picks cuda:LOCAL_RANK). One task, or torchrun: nothing."""
    if "WORLD_SIZE" in os.environ or "SLURM_PROCID" not in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) < 2:
        return
    import zlib

    from submitit.slurm.slurm import SlurmJobEnvironment

    job = SlurmJobEnvironment()
    os.environ.update(RANK=str(job.global_rank), WORLD_SIZE=str(job.num_tasks), LOCAL_RANK=str(job.local_rank),
                      LOCAL_WORLD_SIZE=str(job.num_tasks // max(job.num_nodes, 1)), MASTER_ADDR=job.hostnames[0])
    os.environ.setdefault("MASTER_PORT", str(20000 + zlib.crc32(job.job_id.encode()) % 40000))


def run_experiment(cfg: DictConfig) -> dict:
    """Train and evaluate one configuration; return (and store) its record, whatever happens: this is
    the job boundary, nothing a run raises crosses it."""
    try:
        return _run_experiment(cfg)
    except Exception as err:  # noqa: BLE001 - an error before the run's own handler: still a record
        record = {"kind": RunRecord.kind, "record_version": RECORD_VERSION, "status": classify_failure(err),
                  "error": error_line(err), "traceback": traceback.format_exc(limit=-8),
                  "task": OmegaConf.select(cfg, "task.name", default=None),
                  "attention": OmegaConf.select(cfg, "attention.name", default=None),
                  "seed": OmegaConf.select(cfg, "seed", default=None),
                  "finished_at": datetime.now(timezone.utc).isoformat(), "host": socket.gethostname()}
        record["run_id"] = f"{record['task']}__{record['attention']}__s{record['seed']}__unresolved"
        store = OmegaConf.select(cfg, "paths.store_dir", default=None, throw_on_resolution_failure=False)
        if int(os.environ.get("RANK", "0")) == 0:
            record["record_written"] = bool(store) and store_record(store, record)
        return record


def _run_experiment(cfg: DictConfig) -> dict:
    run: RunConfig = validate_run_config(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    hash_ = config_hash(resolved)
    code = code_identity(run.attention.name)  # a changed variant is a new run id: it trains again
    rid = run_id(run.task.name, run.attention.name, run.seed, hash_, code["code_hash"])
    checkpoint_dir = os.path.join(run.paths.checkpoint_dir, rid)
    done = read_record(run.paths.store_dir, rid)
    if done and done.get("status") == "ok" and not run.rerun:
        return {**done, "skipped": str(record_path(run.paths.store_dir, rid))}
    map_slurm_tasks_to_ranks()
    parallel = DataParallel()
    try:  # before anything touches the checkpoint folder: rerun=true never deletes a live run's
        lock = claim_run(run.paths.checkpoint_dir, rid, done) if parallel.is_main else None
    except RunBusy as busy:
        print(f"lra-bench: error: {busy}", file=sys.stderr, flush=True)
        return {"run_id": rid, "task": run.task.name, "attention": run.attention.name, "seed": run.seed,
                "status": "busy", "error": str(busy)}
    try:
        if run.rerun:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        return _train_and_record(run, resolved, hash_, code, rid, checkpoint_dir, parallel)
    finally:
        if lock is not None:
            lock.release()


def _train_and_record(run: RunConfig, resolved: dict, hash_: str, code: dict, rid: str, checkpoint_dir: str,
                      parallel: DataParallel) -> dict:
    if parallel.world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    run.trainer.device = job_device(run.trainer.device)
    if parallel.world > 1 and run.trainer.device == "auto" and torch.cuda.is_available():
        run.trainer.device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    record = {
        "kind": RunRecord.kind, "record_version": RECORD_VERSION, "run_id": rid, "config_hash": hash_,
        "setup_hash": setup_hash(resolved), "code": code,
        "task": run.task.name, "attention": run.attention.name, "forms": variant_forms(run.attention.name),
        "model": run.model.name, "seed": run.seed,
        "recipe": resolved.get("recipe", {}), "status": "running", "error": None,
        "started_at": datetime.now(timezone.utc).isoformat(), "host": socket.gethostname(),
        "output_dir": run.paths.output_dir, "software": software_versions(), "config": resolved,
        "owner": owner(),
    }
    write = (lambda rec: store_record(run.paths.store_dir, rec)) if parallel.is_main else (lambda rec: None)
    heartbeat = Heartbeat(record_path(run.paths.store_dir, rid)) if write(record) else None
    if parallel.is_main:
        log.info("run %s: started (%s)", rid, run.paths.output_dir)
    tracker = None
    start = time.perf_counter()
    exit_code = 1
    try:
        if run.trainer.num_threads:
            torch.set_num_threads(run.trainer.num_threads)
        seed_everything(run.seed)
        check_device_available(run.trainer.device)
        data = load_task(run.task, run.paths.data_dir)
        model = Classifier(run.model, run.attention, data.vocab_size, run.task.max_len, data.num_classes,
                           two_tower=getattr(run.task, "two_tower", False))
        record["num_parameters"] = sum(p.numel() for p in model.parameters())
        record["tokenization"] = data.tokenization
        record["data_sizes"] = {s: len(getattr(data, s)) for s in ("train", "val", "test")}
        record["data_integrity"] = data.integrity
        logger = run.logger if parallel.is_main else dataclasses.replace(run.logger, backend="none")
        tracker = Tracker(logger, rid, run.paths.output_dir, resolved, [run.task.name, run.attention.name],
                          group=run.task.name, job_type="train",  # a resumed run continues its W&B run
                          run_id=wandb_run_id(rid, record["started_at"] if run.rerun else None))
        tracker.config({"num_parameters": record["num_parameters"]})
        record["wandb"] = {"path": tracker.path, "id": tracker.id, "mode": run.logger.mode if tracker.run else "off",
                           "dir": getattr(tracker, "dir", None)}
        trainer = Trainer(model, data, run.trainer, run.seed, checkpoint_dir, tracker, parallel,
                          code_hash=code["code_hash"])
        device = trainer.device
        record["device"] = describe_device(device)
        result = trainer.fit()
        record.update(status="ok", metrics=result.metrics, throughput=result.throughput, history=result.history,
                      loss_curve=result.loss_curve, resumed_from_step=result.resumed_from,
                      steps=run.trainer.max_steps, checkpoint_dir=checkpoint_dir)
        tracker.summary({**result.metrics, **result.throughput, "num_parameters": record["num_parameters"]})
        exit_code = 0
    except Exception as err:  # noqa: BLE001 - every failure becomes a record, never a stopped sweep
        record.update(status=classify_failure(err), error=error_line(err),
                      traceback=traceback.format_exc(limit=-8))
        record.setdefault("device", device_label(run.trainer.device))
    if heartbeat is not None:
        heartbeat.stop()
    record["wall_seconds"] = time.perf_counter() - start
    record["finished_at"] = datetime.now(timezone.utc).isoformat()
    try:
        if tracker is not None:
            tracker.finish(exit_code)
    except Exception as err:  # noqa: BLE001 - the tracker's trouble is said, the record still written
        print(f"lra-bench: warning: {rid}: the tracker did not finish: {error_line(err)}", file=sys.stderr)
    record["record_written"] = write(record) is not False
    if parallel.is_main:
        log.info("run %s: %s%s", rid, record["status"], f" ({record['error']})" if record.get("error") else "")
    if parallel.world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return record
