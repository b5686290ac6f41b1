"""The training loop: AdamW, warmup then decay, periodic validation, best-validation checkpoint,
periodic resumable checkpoints, and optional data parallelism (torchrun).

Test accuracy is always measured on the best-validation weights, and the record says which step
that was (lessons.md, "Reproducing numbers": LRA#15 reported ListOps at ~17% from the last
checkpoint). Every `checkpoint_every` steps `last.pt` holds the model, optimizer, scheduler, every
RNG, the best-so-far and the data position; a run started again with the same config continues from
it and ends with the same metrics as an unbroken run (tested on a CPU). Plain PyTorch, top to bottom.
"""

from __future__ import annotations

import math
import os
import queue
import random
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from .atomic import atomic_write
from .config import TrainerConfig
from .data import IGNORE_LABEL, PAD_ID, Split, TaskData
from .device import PeakMemory, resolve_device


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    metrics: dict
    throughput: dict
    history: list = field(default_factory=list)
    loss_curve: list = field(default_factory=list)
    resumed_from: int = 0


def lr_multiplier(step: int, config: TrainerConfig) -> float:
    """Linear warmup to the peak `lr`, then the configured decay (spec/tasks.md, schedule names).

    `rsqrt` is the official `linear_warmup * rsqrt_decay` rescaled so that its peak is `lr`:
    official constant 0.05 with 1,000 warmup steps is lr = 0.05 / sqrt(1000).
    """
    warmup = max(config.warmup_steps, 0)
    if step < warmup:
        return (step + 1) / warmup
    if config.schedule == "rsqrt":
        return math.sqrt(max(warmup, 1) / max(step, warmup, 1))
    if config.schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, config.max_steps - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress)) if config.schedule == "cosine" else 1.0 - progress


def make_optimizer(model: torch.nn.Module, config: TrainerConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay only on matrices (not on biases, norms, or 1-D parameters)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2))


def trim_padding(tokens: torch.Tensor) -> torch.Tensor:
    """Cut the columns that are padding in every row: outputs are padding-invariant, time is not."""
    longest = int((tokens != PAD_ID).sum(dim=-1).max().item())
    return tokens[..., : max(longest, 1)]


def take(split: Split, index: torch.Tensor):
    tokens, labels = trim_padding(split.tokens[index].long()), split.labels[index]
    return tokens, labels[:, : tokens.shape[-1]] if labels.ndim == 2 else labels


def loss_and_hits(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"):
    """Cross-entropy and (correct, counted) over sequences, or over labelled tokens for [B, N, C] logits."""
    logits = logits.float()
    if logits.ndim == 3:
        logits, labels = logits.flatten(0, 1), labels.flatten()
    loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_LABEL, reduction=reduction)
    counted = labels != IGNORE_LABEL
    return loss, (logits.argmax(-1) == labels)[counted].sum().item(), counted.sum().item()


def ordered_batches(split: Split, batch_size: int):
    for start in range(0, len(split), batch_size):
        yield take(split, torch.arange(start, min(start + batch_size, len(split))))


def training_indices(size: int, batch_size: int, seed: int):
    """Endless shuffled index batches, reproducible from `seed` alone, so a resumed run can skip
    to its position by drawing (not loading) the batches it already used."""
    if size < batch_size:
        raise ValueError(f"trainer.batch_size={batch_size} is larger than the training split ({size} examples)")
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(size, generator=generator)
        for start in range(0, size - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


class Prefetcher:
    """Prepares the next batches (gather from the token cache, trim, pin) on a background thread
    while the device computes; `wait_seconds` is the time the loop spent blocked on data."""

    def __init__(self, split: Split, indices, rank_slice: slice, pin: bool, enabled: bool, depth: int = 2):
        self.split, self.indices, self.rank_slice, self.pin = split, indices, rank_slice, pin
        self.wait_seconds = 0.0
        self.queue = queue.Queue(maxsize=depth) if enabled else None
        self.stopped = threading.Event()
        if enabled:
            self.thread = threading.Thread(target=self._fill, daemon=True)
            self.thread.start()

    def _make(self):
        x, y = take(self.split, next(self.indices)[self.rank_slice])
        return (x.pin_memory(), y.pin_memory()) if self.pin else (x, y)

    def _fill(self):
        while not self.stopped.is_set():
            try:
                batch = self._make()
            except Exception as err:  # noqa: BLE001 - handed to the training loop, which raises it
                batch = err
            while not self.stopped.is_set():
                try:
                    self.queue.put(batch, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def close(self):
        self.stopped.set()
        if self.queue is not None:
            self.thread.join()

    def next(self):
        start = time.perf_counter()
        batch = self.queue.get() if self.queue is not None else self._make()
        self.wait_seconds += time.perf_counter() - start
        if isinstance(batch, Exception):
            self.stopped.set()
            raise batch
        return batch


class DataParallel:
    """World size and rank from torchrun's environment; one process means no communication."""

    def __init__(self):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            value = value.detach().clone()
            dist.all_reduce(value)
            value /= self.world
        return value


def capture_rng() -> dict:
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def restore_rng(state: dict):
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj, path: Path):
    with atomic_write(path, mode="wb") as fh:
        torch.save(obj, fh)


def compile_fresh(module: torch.nn.Module, backend: str = "inductor", mode: str = "default"):
    """torch.compile after clearing Dynamo's caches. A sweep (Hydra's basic launcher) or a bench builds
    many models in one process; each new attention class fails the guards of the shared
    `MultiHeadAttention.forward`, and past `recompile_limit` (8) Dynamo silently runs the rest eager,
    which would make the later variants of a sweep look slower than they are."""
    torch.compiler.reset()
    return torch.compile(module, backend=backend, mode=None if mode == "default" else mode)


class Trainer:
    def __init__(self, model: torch.nn.Module, data: TaskData, config: TrainerConfig, seed: int,
                 checkpoint_dir: Path, tracker=None, parallel: DataParallel | None = None):
        self.config, self.data, self.seed, self.tracker = config, data, seed, tracker
        self.parallel = parallel or DataParallel()
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        on_gpu = self.device.type == "cuda"
        compiled = compile_fresh(self.model, mode=config.compile_mode) if (on_gpu if config.compile is None else config.compile) else self.model
        self.forward_model = compiled
        self.train_model = (torch.nn.parallel.DistributedDataParallel(compiled) if self.parallel.world > 1
                            else compiled)
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_multiplier(s, config))
        self.best_path = Path(checkpoint_dir) / "best.pt"
        self.last_path = Path(checkpoint_dir) / "last.pt"
        bf16 = config.precision == "bf16" or (config.precision == "auto" and on_gpu)
        self.precision = "bf16" if bf16 else "fp32"
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        if config.batch_size % self.parallel.world:
            raise ValueError(f"trainer.batch_size={config.batch_size} must be divisible by {self.parallel.world} "
                             "processes")

    def loader(self, split: Split, indices, rank_slice: slice) -> Prefetcher:
        """The training input pipeline: pinned, background-prefetched batches on CUDA (`trainer.prefetch`
        overrides), in-loop batching on a CPU."""
        on_gpu = self.device.type == "cuda"
        return Prefetcher(split, indices, rank_slice, pin=on_gpu,
                          enabled=on_gpu if self.config.prefetch is None else self.config.prefetch)

    def evaluate(self, split: Split) -> dict:
        """Accuracy, loss and throughput over a split (or its first `eval_max_batches` batches)."""
        self.model.eval()
        correct = counted = examples = tokens = 0
        loss_sum = 0.0
        start = time.perf_counter()
        with torch.no_grad(), self.autocast:
            for i, (x, y) in enumerate(ordered_batches(split, self.config.batch_size)):
                if self.config.eval_max_batches is not None and i >= self.config.eval_max_batches:
                    break
                tokens += int((x != PAD_ID).sum())  # counted on the host batch: no device sync
                x, y = x.to(self.device), y.to(self.device)
                loss, hits, count = loss_and_hits(self.forward_model(x), y, reduction="sum")
                loss_sum += loss.item()
                correct, counted = correct + hits, counted + count
                examples += len(y)
        self.model.train()
        return {"accuracy": correct / counted, "loss": loss_sum / counted, "examples": examples, "tokens": tokens,
                "seconds": time.perf_counter() - start}

    def _save_last(self, state: dict):
        if self.parallel.is_main:
            atomic_save({**state, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                         "scheduler": self.scheduler.state_dict(), "rng": capture_rng()}, self.last_path)

    def _resume(self) -> dict | None:
        if not self.last_path.is_file():
            return None
        saved = torch.load(self.last_path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        restore_rng(saved["rng"])
        return {k: v for k, v in saved.items() if k not in ("model", "optimizer", "scheduler", "rng")}

    def fit(self) -> TrainResult:
        cfg, world, rank = self.config, self.parallel.world, self.parallel.rank
        memory = PeakMemory(self.device)
        state = self._resume() or {
            "step": 0, "best_accuracy": -1.0, "best_step": 0, "history": [], "loss_curve": [],
            "counters": {"train_seconds": 0.0, "train_examples": 0, "train_tokens": 0,
                         "eval_seconds": 0.0, "eval_examples": 0, "eval_tokens": 0}}
        resumed_from = state["step"]
        counters = state["counters"]
        stream = training_indices(len(self.data.train), cfg.batch_size, self.seed)
        for _ in range(resumed_from):  # data position: redraw, do not load, the batches already used
            next(stream)
        per_rank = cfg.batch_size // world
        loader = self.loader(self.data.train, stream, slice(rank * per_rank, (rank + 1) * per_rank))
        checkpoint_every = cfg.checkpoint_every or cfg.eval_every
        self.model.train()
        bar = tqdm(range(resumed_from + 1, cfg.max_steps + 1), disable=None if cfg.progress and rank == 0 else True,
                   desc="train", leave=False, mininterval=1.0)
        try:
            self._loop(bar, loader, state, counters, checkpoint_every)
        finally:
            loader.close()
            bar.close()
        peak = memory.peak_bytes()
        return self._finish(state, counters, loader, peak, memory.counter, resumed_from)

    def _loop(self, bar, loader, state, counters, checkpoint_every):
        cfg, world = self.config, self.parallel.world
        for step in bar:
            start = time.perf_counter()
            x, y = loader.next()
            mean_loss = self.train_step(x, y)
            if not math.isfinite(mean_loss):
                raise Diverged(f"training loss is {mean_loss} at step {step}")
            counters["train_seconds"] += time.perf_counter() - start
            counters["train_examples"] += len(y) * world
            counters["train_tokens"] += int((x != PAD_ID).sum()) * world
            if step % cfg.log_every == 0:
                state["loss_curve"].append([step, mean_loss])
                if self.tracker:
                    self.tracker.log({"train/loss": mean_loss, "train/lr": self.scheduler.get_last_lr()[0]}, step)
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                val = self.evaluate(self.data.val)
                for key in ("seconds", "examples", "tokens"):
                    counters[f"eval_{key}"] += val[key]
                state["history"].append({"step": step, "train_loss": mean_loss, "val_accuracy": val["accuracy"],
                                         "val_loss": val["loss"]})
                if self.tracker:
                    self.tracker.log({"val/accuracy": val["accuracy"], "val/loss": val["loss"]}, step)
                if val["accuracy"] > state["best_accuracy"]:
                    state["best_accuracy"], state["best_step"] = val["accuracy"], step
                    if self.parallel.is_main:
                        atomic_save({"model": self.model.state_dict(), "step": step}, self.best_path)
                bar.set_postfix(loss=f"{mean_loss:.3f}", val_acc=f"{val['accuracy']:.3f}")
            if step % checkpoint_every == 0 or step == cfg.max_steps:
                state["step"] = step
                self._save_last(state)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One optimisation step on a batch; returns the loss averaged over processes (a device sync)."""
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        with self.autocast:
            loss, _, _ = loss_and_hits(self.train_model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return self.parallel.mean(loss).item()

    def _finish(self, state, counters, loader, peak, memory_counter, resumed_from) -> TrainResult:
        """Test accuracy on the best-validation weights, and the run's metrics and throughput."""
        cfg, world = self.config, self.parallel.world
        if world > 1:
            dist.barrier()  # the main rank has written best.pt
        self.model.load_state_dict(torch.load(self.best_path, map_location=self.device, weights_only=True)["model"])
        test = self.evaluate(self.data.test)
        for key in ("seconds", "examples", "tokens"):
            counters[f"eval_{key}"] += test[key]
        metrics = {
            "test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "best_val_accuracy": state["best_accuracy"], "best_val_step": state["best_step"],
            "final_train_loss": state["history"][-1]["train_loss"],
            "chance_accuracy": self.data.test.majority_rate(),
            "stuck_at_chance": state["best_accuracy"] <= self.data.val.majority_rate() + cfg.chance_margin,
        }
        throughput = {
            "train_examples_per_s": counters["train_examples"] / counters["train_seconds"],
            "train_tokens_per_s": counters["train_tokens"] / counters["train_seconds"],
            "eval_examples_per_s": counters["eval_examples"] / counters["eval_seconds"],
            "eval_tokens_per_s": counters["eval_tokens"] / counters["eval_seconds"],
            "peak_memory_bytes": peak, "peak_memory_counter": memory_counter,
            "train_seconds": counters["train_seconds"], "processes": world,
            "data_wait_share": loader.wait_seconds / counters["train_seconds"] if resumed_from == 0 else None,
            "precision": self.precision, "compiled": self.forward_model is not self.model,
        }
        return TrainResult(metrics, throughput, state["history"], state["loss_curve"], resumed_from)
