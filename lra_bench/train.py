"""The training loop: AdamW, warmup then decay, periodic validation, best-validation checkpoint,
periodic resumable checkpoints, and optional data parallelism (torchrun).

Test accuracy is always measured on the best-validation weights, and the record says which step
that was (lessons.md, "Reproducing numbers": LRA#15 reported ListOps at ~17% from the last
checkpoint). Every `checkpoint_every` steps `last.pt` holds the model, optimizer, scheduler, every
RNG, the best-so-far and the data position; a run started again with the same config continues from
it and ends with the same metrics as an unbroken run (tested on a CPU). Plain PyTorch, top to bottom.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from .checkpoint import atomic_save, capture_rng, restore_rng, set_aside
from .config import TrainerConfig
from .data import IGNORE_LABEL, PAD_ID, Split, TaskData
from .data.pipeline import Prefetcher, ordered_batches, training_indices, training_loader
from .device import PeakMemory, resolve_device


log = logging.getLogger(__name__)


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    metrics: dict
    throughput: dict
    history: list = field(default_factory=list)
    loss_curve: list = field(default_factory=list)
    resumed_from: int = 0


@dataclass
class Counters:
    """Seconds, examples and tokens of training and of evaluation, summed over the run (throughput)."""

    train_seconds: float = 0.0
    train_examples: int = 0
    train_tokens: int = 0
    eval_seconds: float = 0.0
    eval_examples: int = 0
    eval_tokens: int = 0

    def add_eval(self, result: dict):
        self.eval_seconds += result["seconds"]
        self.eval_examples += result["examples"]
        self.eval_tokens += result["tokens"]


@dataclass
class TrainState:
    """Where a run stands: saved in `last.pt` as a plain dict (the layout earlier checkpoints have, so
    they resume), next to the model, optimizer, scheduler and RNG states."""

    step: int = 0
    best_accuracy: float = -1.0
    best_step: int = 0
    history: list = field(default_factory=list)
    loss_curve: list = field(default_factory=list)
    counters: Counters = field(default_factory=Counters)

    @classmethod
    def from_checkpoint(cls, saved: dict) -> TrainState:
        fields = {k: saved[k] for k in ("step", "best_accuracy", "best_step", "history", "loss_curve")}
        return cls(**fields, counters=Counters(**saved["counters"]))


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


def loss_and_hits(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean"):
    """Cross-entropy and (correct, counted) over sequences, or over labelled tokens for [B, N, C] logits."""
    logits = logits.float()
    if logits.ndim == 3:
        logits, labels = logits.flatten(0, 1), labels.flatten()
    loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_LABEL, reduction=reduction)
    counted = labels != IGNORE_LABEL
    return loss, (logits.argmax(-1) == labels)[counted].sum().item(), counted.sum().item()


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


def compile_fresh(module: torch.nn.Module, backend: str = "inductor", mode: str = "default"):
    """torch.compile after clearing Dynamo's caches. A sweep (Hydra's basic launcher) or a bench builds
    many models in one process; each new attention class fails the guards of the shared
    `MultiHeadAttention.forward`, and past `recompile_limit` (8) Dynamo silently runs the rest eager,
    which would make the later variants of a sweep look slower than they are."""
    torch.compiler.reset()
    return torch.compile(module, backend=backend, mode=None if mode == "default" else mode)


class Trainer:
    def __init__(self, model: torch.nn.Module, data: TaskData, config: TrainerConfig, seed: int,
                 checkpoint_dir: Path, tracker=None, parallel: DataParallel | None = None,
                 code_hash: str | None = None):
        self.config, self.data, self.seed, self.tracker = config, data, seed, tracker
        self.code_hash = code_hash  # stored in last.pt: a checkpoint of other code is never resumed
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
        """The training input pipeline on this trainer's device (`trainer.prefetch` overrides its default)."""
        return training_loader(split, indices, rank_slice, self.device, self.config.prefetch)

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

    def _save_last(self, state: TrainState):
        if self.parallel.is_main:
            atomic_save({**dataclasses.asdict(state), "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                         "scheduler": self.scheduler.state_dict(), "rng": capture_rng(),
                         "code_hash": self.code_hash}, self.last_path)

    def _resume(self) -> TrainState | None:
        if not self.last_path.is_file():
            return None
        fresh_model = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        fresh_rng = capture_rng()
        try:  # weights_only: a checkpoint is data, never code (a planted pickle is refused, not run)
            saved = torch.load(self.last_path, map_location=self.device, weights_only=True)
            if saved.get("code_hash") != self.code_hash:
                print(f"{self.last_path}: written by other code (code hash {saved.get('code_hash')}, now "
                      f"{self.code_hash}); not resumed, training from step 0", file=sys.stderr)
                return None
            state = TrainState.from_checkpoint(saved)
            self.model.load_state_dict(saved["model"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
            restore_rng(saved["rng"])
        except Exception as err:  # noqa: BLE001 - truncated, corrupt, foreign or of an older layout
            set_aside(self.last_path, err)  # and start as a fresh run would, whatever was half-loaded
            self.model.load_state_dict(fresh_model)
            self.optimizer = make_optimizer(self.model, self.config)
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer,
                                                               lambda s: lr_multiplier(s, self.config))
            restore_rng(fresh_rng)
            return None
        return state

    def fit(self) -> TrainResult:
        cfg, world, rank = self.config, self.parallel.world, self.parallel.rank
        memory = PeakMemory(self.device)
        state = self._resume() or TrainState()
        resumed_from = state.step
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
            self._loop(bar, loader, state, checkpoint_every)
        finally:
            loader.close()
            bar.close()
        peak = memory.peak_bytes()
        return self._finish(state, loader, peak, memory.counter, resumed_from)

    def _loop(self, bar, loader, state: TrainState, checkpoint_every: int):
        cfg, world, counters = self.config, self.parallel.world, state.counters
        for step in bar:
            start = time.perf_counter()
            x, y = loader.next()
            mean_loss = self.train_step(x, y)
            if not math.isfinite(mean_loss):
                raise Diverged(f"training loss is {mean_loss} at step {step}")
            counters.train_seconds += time.perf_counter() - start
            counters.train_examples += len(y) * world
            counters.train_tokens += int((x != PAD_ID).sum()) * world
            if step % cfg.log_every == 0 or step == cfg.max_steps:  # the last step's loss always
                state.loss_curve.append([step, mean_loss])
                if self.tracker:
                    self.tracker.log({"train/loss": mean_loss, "train/lr": self.scheduler.get_last_lr()[0]}, step)
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                val = self.evaluate(self.data.val)
                counters.add_eval(val)
                state.history.append({"step": step, "train_loss": mean_loss, "val_accuracy": val["accuracy"],
                                         "val_loss": val["loss"]})
                if self.tracker:
                    self.tracker.log({"val/accuracy": val["accuracy"], "val/loss": val["loss"]}, step)
                if val["accuracy"] > state.best_accuracy:
                    state.best_accuracy, state.best_step = val["accuracy"], step
                    if self.parallel.is_main:
                        atomic_save({"model": self.model.state_dict(), "step": step}, self.best_path)
                bar.set_postfix(loss=f"{mean_loss:.3f}", val_acc=f"{val['accuracy']:.3f}")
                if self.parallel.is_main:  # tqdm is off without a TTY: the job log (Hydra, SLURM's .out) gets this
                    log.info("step %d/%d: train loss %.4f, val accuracy %.4f (best %.4f at step %d)", step,
                             cfg.max_steps, mean_loss, val["accuracy"], state.best_accuracy, state.best_step)
            if step % checkpoint_every == 0 or step == cfg.max_steps:
                state.step = step
                self._save_last(state)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One optimisation step on a batch; returns the loss averaged over processes (a device sync).
        With `accumulate_grad_batches` = k the batch goes through in k parts whose summed losses are
        divided by the whole batch's count: the same gradient as one pass (up to rounding)."""
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        parts = self.config.accumulate_grad_batches
        if parts == 1:
            with self.autocast:
                loss, _, _ = loss_and_hits(self.train_model(x), y)
            loss.backward()
        else:
            counted = (y != IGNORE_LABEL).sum().clamp(min=1)
            loss = torch.zeros((), device=self.device)
            for i, (x_part, y_part) in enumerate(zip(x.chunk(parts), y.chunk(parts))):
                last = i == parts - 1
                no_sync = self.train_model.no_sync() if self.parallel.world > 1 and not last else nullcontext()
                with no_sync, self.autocast:  # DDP averages the gradients once, on the last part
                    part, _, _ = loss_and_hits(self.train_model(x_part), y_part, reduction="sum")
                    part = part / counted
                part.backward()
                loss = loss + part.detach()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return self.parallel.mean(loss).item()

    def _finish(self, state: TrainState, loader, peak, memory_counter, resumed_from) -> TrainResult:
        """Test accuracy on the best-validation weights, and the run's metrics and throughput."""
        cfg, world, counters = self.config, self.parallel.world, state.counters
        if world > 1:
            dist.barrier()  # the main rank has written best.pt
        self.model.load_state_dict(torch.load(self.best_path, map_location=self.device, weights_only=True)["model"])
        test = self.evaluate(self.data.test)
        counters.add_eval(test)
        metrics = {
            "test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "best_val_accuracy": state.best_accuracy, "best_val_step": state.best_step,
            "final_train_loss": state.history[-1]["train_loss"],
            "chance_accuracy": self.data.test.majority_rate(),
            "stuck_at_chance": state.best_accuracy <= self.data.val.majority_rate() + cfg.chance_margin,
        }
        throughput = {
            "train_examples_per_s": counters.train_examples / counters.train_seconds,
            "train_tokens_per_s": counters.train_tokens / counters.train_seconds,
            "eval_examples_per_s": counters.eval_examples / counters.eval_seconds,
            "eval_tokens_per_s": counters.eval_tokens / counters.eval_seconds,
            "peak_memory_bytes": peak, "peak_memory_counter": memory_counter,
            "train_seconds": counters.train_seconds, "processes": world,
            "data_wait_share": loader.wait_seconds / counters.train_seconds if resumed_from == 0 else None,
            "precision": self.precision, "compiled": self.forward_model is not self.model,
        }
        return TrainResult(metrics, throughput, state.history, state.loss_curve, resumed_from)
