"""Whole training steps of a task's published model (`lra-bench bench --model`): steps/s per variant,
the ratio to softmax, peak memory and the share of step time spent waiting for data."""

from __future__ import annotations

import tempfile
import time

import torch

from ..compose import compose
from ..config import validate_run_config
from ..data import Split, TaskData
from ..device import cpu_peak_bytes
from ..model import Classifier
from ..data.pipeline import training_indices
from ..train import Trainer
from .layer import BenchSettings, emit, quiet_stderr, write_bench_record


def measure_model_step(task: str, name: str, steps: int, warmup: int, batch: int | None, length: int | None,
                       device: str, compile_mode: str = "default", compile: bool | None = None) -> dict:
    """Steps/s, peak memory and the data-wait share of whole training steps at the task's published
    model size (`experiment=lra/<task>`), on synthetic tokens through the real input pipeline.
    `compile`: None = as the trainer decides (compiled on CUDA); False keeps every variant eager, so a
    short GPU slot is not spent compiling (tools/gpu_verify.py)."""
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
    result = {"task": task, "attention": name, "length": max_len, "batch": batch, "status": "ok",
              "steps_per_s": None, "peak_bytes": None, "data_wait_share": None}
    try:
        torch.manual_seed(0)
        model = Classifier(run.model, run.attention, data.vocab_size, max_len, data.num_classes, two_tower=two_tower)
        with tempfile.TemporaryDirectory() as checkpoints:
            trainer = Trainer(model, data, run.trainer, seed=0, checkpoint_dir=checkpoints)
            loader = trainer.loader(split, training_indices(len(split), batch, 0), slice(0, batch))
            try:
                for _ in range(warmup):
                    trainer.train_step(*loader.next())
                if trainer.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(trainer.device)
                loader.wait_seconds, start = 0.0, time.perf_counter()
                for _ in range(steps):
                    trainer.train_step(*loader.next())  # returns a Python float: the step has finished
                elapsed = time.perf_counter() - start
            finally:
                loader.close()
            peak = (torch.cuda.max_memory_allocated(trainer.device) if trainer.device.type == "cuda"
                    else _quiet_cpu_peak(lambda: trainer.train_step(*loader.make_batch())))
        return {**result, "steps_per_s": steps / elapsed, "peak_bytes": int(peak),
                "data_wait_share": loader.wait_seconds / elapsed, "precision": trainer.precision,
                "compiled": trainer.forward_model is not trainer.model}
    except torch.OutOfMemoryError:
        return {**result, "status": "OOM"}


def _quiet_cpu_peak(step) -> int:
    with quiet_stderr():  # the profiler's start/stop lines
        return cpu_peak_bytes(step)


def model_bench(tasks: list[str], names: list[str], opts, device: str) -> int:
    """`bench --model`: steps/s per variant and task, ratio to softmax, memory, share of time waiting for data."""
    import pandas as pd

    rows, total = [], len(tasks) * len(names)
    for task in tasks:
        for name in names:
            row = measure_model_step(task, name, opts.steps, warmup=2, batch=opts.batch, length=opts.length,
                                     device=device, compile_mode=opts.compile_mode, compile=opts.compile)
            rows.append(row)
            print(f"  {len(rows)}/{total} {task:10s} {name:14s} " + (f"{row['steps_per_s']:8.2f} steps/s  {row['peak_bytes'] / 2**20:9.1f} "
                                                 f"MiB  data {100 * row['data_wait_share']:.1f}%"
                                                 if row["status"] == "ok" else row["status"]))
    frame = pd.DataFrame(rows)
    reference = frame[frame.attention == "softmax"].set_index("task").steps_per_s
    frame["speed_vs_softmax"] = frame.steps_per_s / frame.task.map(reference)
    frame["cell"] = frame.apply(lambda r: r["status"] if r["status"] != "ok" else
                                f"{r['steps_per_s']:.2f}/s ({r['speed_vs_softmax']:.2f}x), "
                                f"data {100 * r['data_wait_share']:.1f}%", axis=1)
    emit("### whole training step: steps/s (speed vs softmax), share of step time waiting for data\n\n"
          + frame.pivot(index="attention", columns="task", values="cell").to_markdown(disable_numparse=True), opts.out)
    if opts.store:
        settings = BenchSettings(lengths=tuple(sorted(set(frame.length))), device=device, repeats=opts.steps)
        print(f"record: {write_bench_record(opts.store, [{**r, 'mode': 'model'} for r in rows], settings)}")
    return 0
