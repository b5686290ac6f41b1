"""Whole training steps of a task's published model (`lra-bench bench --model`): steps/s per variant,
the ratio to softmax, peak memory and the share of step time spent waiting for data."""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager

import torch

from ..compose import compose
from ..config import validate_run_config
from ..data import Split, TaskData
from ..device import cpu_peak_bytes
from ..model import Classifier
from ..data.pipeline import training_indices
from ..train import Trainer
from .layer import BenchSettings, emit, quiet_stderr, write_bench_record
from .timing import ratio_summary, ratio_text, time_interleaved


@contextmanager
def model_steps(task: str, name: str, batch: int | None, length: int | None, device: str,
                compile_mode: str = "default", compile: bool | None = None, warmup: int = 2):
    """A task's published model (`experiment=lra/<task>`) with `name`'s attention, training on synthetic
    tokens through the real input pipeline: yields its row (status, peak bytes; OOM as a status) and a
    `StepBlocks` to time it with (None after an OOM). `compile`: None = as the trainer decides (compiled
    on CUDA); False keeps every variant eager, so a short GPU slot is not spent compiling
    (tools/gpu_verify.py). Peak memory: on CUDA the allocator's peak over the last warm-up step above
    what was allocated before the model was built (softmax's model may be alive beside it), on a CPU
    one step profiled after the timing."""
    run = validate_run_config(compose([f"experiment=lra/{task}", f"attention={name}"]))
    max_len = length or run.task.max_len
    batch = batch or run.trainer.batch_size
    two_tower = getattr(run.task, "two_tower", False)
    shape = (batch * 4, 2, max_len) if two_tower else (batch * 4, max_len)
    generator = torch.Generator().manual_seed(0)
    split = Split(torch.randint(1, 257, shape, generator=generator, dtype=torch.int16),
                  torch.randint(0, run.task.num_classes, (shape[0],), generator=generator))
    data = TaskData(split, split, split, vocab_size=257, num_classes=run.task.num_classes, tokenization="random")
    run.trainer.device, run.trainer.batch_size, run.trainer.compile_mode = device, batch, compile_mode
    run.trainer.compile = compile
    row = {"task": task, "attention": name, "length": max_len, "batch": batch, "status": "ok",
           "steps_per_s": None, "peak_bytes": None, "data_wait_share": None}
    cuda = torch.device(device).type == "cuda"
    timing = False
    try:
        if cuda:
            base = torch.cuda.memory_allocated(device)
        torch.manual_seed(0)
        model = Classifier(run.model, run.attention, data.vocab_size, max_len, data.num_classes, two_tower=two_tower)
        with tempfile.TemporaryDirectory() as checkpoints:
            trainer = Trainer(model, data, run.trainer, seed=0, checkpoint_dir=checkpoints)
            loader = trainer.loader(split, training_indices(len(split), batch, 0), slice(0, batch))
            try:
                warm = max(warmup, 1) if cuda else warmup  # CUDA: one step at least, for the peak
                for i in range(warm):
                    if cuda and i == warm - 1:  # the last warm-up step: compiled, if it is to be
                        torch.cuda.reset_peak_memory_stats(device)
                    trainer.train_step(*loader.next())
                if cuda:
                    row["peak_bytes"] = int(torch.cuda.max_memory_allocated(device) - base)
                row.update(precision=trainer.precision, compiled=trainer.forward_model is not trainer.model)
                blocks, timing = StepBlocks(trainer, loader), True
                yield row, blocks
                if blocks.elapsed:
                    row.update(steps_per_s=blocks.steps / blocks.elapsed,
                               data_wait_share=loader.wait_seconds / blocks.elapsed)
            finally:
                loader.close()
            if not cuda and row["status"] == "ok":
                row["peak_bytes"] = int(_quiet_cpu_peak(lambda: trainer.train_step(*loader.make_batch())))
    except torch.OutOfMemoryError:
        row.update(status="OOM", steps_per_s=None, peak_bytes=None, data_wait_share=None)
        if not timing:  # out of memory while building or warming up: the caller still gets the row
            yield row, None


class StepBlocks:
    """Blocks of whole training steps on one trainer: `block()` is one block's mean ms per step (a step
    returns its loss as a Python float, so it has finished, on CUDA too); it counts steps and seconds,
    and the loader counts the time spent waiting for data."""

    def __init__(self, trainer, loader, runs: int = 1):
        self.trainer, self.loader, self.runs = trainer, loader, runs
        self.steps, self.elapsed = 0, 0.0

    def block(self) -> float:
        start = time.perf_counter()
        for _ in range(self.runs):
            self.trainer.train_step(*self.loader.next())
        seconds = time.perf_counter() - start
        self.steps, self.elapsed = self.steps + self.runs, self.elapsed + seconds
        return 1000 * seconds / self.runs


def measure_model_step(task: str, name: str, steps: int, warmup: int, batch: int | None, length: int | None,
                       device: str, compile_mode: str = "default", compile: bool | None = None) -> dict:
    """Steps/s, peak memory and the data-wait share of `steps` whole training steps of one variant timed
    on its own (`model_steps`); for a ratio to softmax `model_bench` times them interleaved."""
    with model_steps(task, name, batch, length, device, compile_mode, compile, warmup) as (row, blocks):
        if blocks is not None:
            blocks.runs = steps
            blocks.block()
    return row


def _quiet_cpu_peak(step) -> int:
    with quiet_stderr():  # the profiler's start/stop lines
        return cpu_peak_bytes(step)


def model_bench(tasks: list[str], names: list[str], opts, device: str) -> int:
    """`bench --model`: steps/s per variant and task, memory, share of time waiting for data, and the
    speed ratio to softmax: each variant's steps timed interleaved with softmax's (timing.py,
    `time_interleaved`: `--repeats` block pairs of `--steps / --repeats` steps each), the ratio the
    median of the per-pair ratios with their IQR, unstable when that IQR is over 10% of it.
    Softmax's own row (printed after its task's variants) counts all its blocks."""
    import pandas as pd

    rows, total = [], len(tasks) * len(names)
    pairs = max(opts.repeats, 1)
    runs = max(1, opts.steps // pairs)
    settings = dict(batch=opts.batch, length=opts.length, device=device, compile_mode=opts.compile_mode,
                    compile=opts.compile)
    for task in tasks:
        with model_steps(task, "softmax", **settings) as (reference, softmax):
            if softmax is not None:
                softmax.runs = runs
                reference.update(speed_vs_softmax=1.0)
            for name in (n for n in names if n != "softmax"):
                with model_steps(task, name, **settings) as (row, variant):
                    if variant is not None:
                        variant.runs = runs
                        if softmax is None:  # softmax ran out of memory: no ratio
                            for _ in range(pairs):
                                variant.block()
                        else:
                            _, ratios = time_interleaved(softmax, variant, pairs)
                            row.update(paired_speed_ratio([1 / r for r in ratios]))
                rows.append(row)
                print(model_progress_line(row, f"{len(rows)}/{total}"))
            if softmax is not None and not softmax.steps:  # no variant timed beside it
                for _ in range(pairs):
                    softmax.block()
        rows.append(reference)
        print(model_progress_line(reference, f"{len(rows)}/{total}"))
    frame = pd.DataFrame(rows)
    if "speed_vs_softmax" not in frame:
        frame["speed_vs_softmax"] = None

    def cell(r):
        if r["status"] != "ok":
            return r["status"]
        paired = pd.notna(r.get("ratio_pairs"))
        ratio = (ratio_text(r["speed_vs_softmax"], r["ratio_iqr"] if paired else None, paired and r["ratio_unstable"])
                 if pd.notna(r["speed_vs_softmax"]) else "no softmax")
        return f"{r['steps_per_s']:.2f}/s ({ratio}), data {100 * r['data_wait_share']:.1f}%"

    frame["cell"] = frame.apply(cell, axis=1)
    emit("### whole training step: steps/s (speed vs softmax from interleaved steps, with the IQR of its per-pair "
         "ratios), share of step "
         "time waiting for data\n\n"
         + frame.pivot(index="attention", columns="task", values="cell").to_markdown(disable_numparse=True), opts.out)
    if opts.store:
        settings = BenchSettings(lengths=tuple(sorted(set(frame.length))), device=device, repeats=opts.steps, passes=1)
        print(f"record: {write_bench_record(opts.store, [{**r, 'mode': 'model'} for r in rows], settings)}")
    return 0


def paired_speed_ratio(speed_ratios: list[float]) -> dict:
    """The speed ratio to softmax (steps/s over softmax's) from per-pair ratios: median, interval, IQR."""
    summary = ratio_summary(speed_ratios)
    return {"speed_vs_softmax": summary.pop("time_vs_softmax"), "speed_range": summary.pop("time_vs_softmax_range"),
            **summary}


def model_progress_line(row: dict, count: str) -> str:
    if row["status"] != "ok":
        return f"  {count} {row['task']:10s} {row['attention']:14s} {row['status']}"
    ratio = ""
    if row.get("ratio_pairs"):
        ratio = f" ({ratio_text(row['speed_vs_softmax'], row['ratio_iqr'], row['ratio_unstable'])})"
    return (f"  {count} {row['task']:10s} {row['attention']:14s} {row['steps_per_s']:8.2f} steps/s{ratio}  "
            f"{row['peak_bytes'] / 2**20:9.1f} MiB  data {100 * row['data_wait_share']:.1f}%")
