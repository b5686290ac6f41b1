"""The training loop: AdamW, warmup then decay, periodic validation, best-validation checkpoint.

Test accuracy is always measured on the best-validation weights, and the record says which step
that was (lessons.md, "Reproducing numbers": LRA#15 reported ListOps at ~17% from the last
checkpoint). Plain PyTorch, read top to bottom.
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import TrainerConfig
from .data import PAD_ID, Split, TaskData
from .memory import PeakMemory


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainResult:
    metrics: dict
    throughput: dict
    history: list = field(default_factory=list)


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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(model: torch.nn.Module, config: TrainerConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay only on matrices (not on biases, norms, or 1-D parameters)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2))


def trim_padding(tokens: torch.Tensor) -> torch.Tensor:
    """Cut the columns that are padding in every row: outputs are padding-invariant, time is not."""
    longest = int((tokens != PAD_ID).flatten(1).sum(dim=1).max().item()) if tokens.ndim == 2 else None
    if longest is None:  # two-tower [B, 2, N]
        longest = int((tokens != PAD_ID).sum(dim=-1).max().item())
    return tokens[..., : max(longest, 1)]


def batches(split: Split, batch_size: int, generator: torch.Generator | None):
    """Shuffled (with `generator`) or ordered mini-batches over a split, padding trimmed."""
    order = torch.randperm(len(split), generator=generator) if generator is not None else torch.arange(len(split))
    for start in range(0, len(split), batch_size):
        index = order[start:start + batch_size]
        yield trim_padding(split.tokens[index].long()), split.labels[index]


def endless_batches(split: Split, batch_size: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield from batches(split, batch_size, generator)


class Trainer:
    def __init__(self, model: torch.nn.Module, data: TaskData, config: TrainerConfig, seed: int,
                 checkpoint_dir: Path, tracker=None):
        self.config, self.data, self.seed, self.tracker = config, data, seed, tracker
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.optimizer = make_optimizer(self.model, config)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_multiplier(s, config))
        self.checkpoint_path = Path(checkpoint_dir) / "best.pt"
        self.autocast = (torch.autocast(self.device.type, dtype=torch.bfloat16)
                         if config.precision == "bf16" else nullcontext())

    def evaluate(self, split: Split) -> dict:
        """Accuracy, loss and throughput over a split (or its first `eval_max_batches` batches)."""
        self.model.eval()
        correct = total = tokens = 0
        loss_sum = 0.0
        start = time.perf_counter()
        with torch.no_grad(), self.autocast:
            for i, (x, y) in enumerate(batches(split, self.config.batch_size, None)):
                if self.config.eval_max_batches is not None and i >= self.config.eval_max_batches:
                    break
                x, y = x.to(self.device), y.to(self.device)
                logits = self.model(x).float()
                loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
                correct += (logits.argmax(-1) == y).sum().item()
                total += len(y)
                tokens += (x != PAD_ID).sum().item()
        seconds = time.perf_counter() - start
        self.model.train()
        return {"accuracy": correct / total, "loss": loss_sum / total, "examples": total, "tokens": tokens,
                "seconds": seconds}

    def fit(self) -> TrainResult:
        cfg = self.config
        memory = PeakMemory(self.device)
        stream = endless_batches(self.data.train, cfg.batch_size, self.seed)
        best = {"accuracy": -1.0, "step": 0, "state": None}
        history, train_seconds, train_examples, train_tokens = [], 0.0, 0, 0
        eval_totals = {"seconds": 0.0, "examples": 0, "tokens": 0}
        self.model.train()
        bar = tqdm(range(1, cfg.max_steps + 1), disable=None if cfg.progress else True, desc="train", leave=False,
                   mininterval=1.0)
        for step in bar:
            start = time.perf_counter()
            x, y = next(stream)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            with self.autocast:
                loss = F.cross_entropy(self.model(x).float(), y)
            if not torch.isfinite(loss):
                raise Diverged(f"training loss is {loss.item()} at step {step}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            train_seconds += time.perf_counter() - start
            train_examples += len(y)
            train_tokens += int((x != PAD_ID).sum())
            if step % cfg.log_every == 0 and self.tracker:
                self.tracker.log({"train/loss": loss.item(), "train/lr": self.scheduler.get_last_lr()[0]}, step)
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                val = self.evaluate(self.data.val)
                for key in eval_totals:
                    eval_totals[key] += val[key]
                history.append({"step": step, "train_loss": loss.item(), "val_accuracy": val["accuracy"],
                                "val_loss": val["loss"]})
                if self.tracker:
                    self.tracker.log({"val/accuracy": val["accuracy"], "val/loss": val["loss"]}, step)
                if val["accuracy"] > best["accuracy"]:
                    best = {"accuracy": val["accuracy"], "step": step,
                            "state": copy.deepcopy(self.model.state_dict())}
                    self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
                    torch.save({"model": best["state"], "step": step}, self.checkpoint_path)
                bar.set_postfix(loss=f"{loss.item():.3f}", val_acc=f"{val['accuracy']:.3f}")
        bar.close()
        peak = memory.peak_bytes()

        self.model.load_state_dict(best["state"])
        test = self.evaluate(self.data.test)
        for key in eval_totals:
            eval_totals[key] += test[key]
        chance = self.data.test.majority_rate()
        metrics = {
            "test_accuracy": test["accuracy"], "test_loss": test["loss"],
            "best_val_accuracy": best["accuracy"], "best_val_step": best["step"],
            "final_train_loss": history[-1]["train_loss"], "chance_accuracy": chance,
            "stuck_at_chance": best["accuracy"] <= self.data.val.majority_rate() + cfg.chance_margin,
        }
        throughput = {
            "train_examples_per_s": train_examples / train_seconds, "train_tokens_per_s": train_tokens / train_seconds,
            "eval_examples_per_s": eval_totals["examples"] / eval_totals["seconds"],
            "eval_tokens_per_s": eval_totals["tokens"] / eval_totals["seconds"],
            "peak_memory_bytes": peak, "peak_memory_counter": memory.counter,
            "train_seconds": train_seconds,
        }
        return TrainResult(metrics, throughput, history)
