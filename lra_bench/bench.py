"""`lra-bench bench`: speed and memory of every attention variant against softmax (LRA Table 2, Fig. 3).

One multi-head attention layer (shared projections + the variant) at an LRA model size (Text:
dim 256, 4 heads of 64), forward+backward ("train") and forward under no_grad ("infer"), over
sequence lengths, with warm-up, repeated timings and the median. On CUDA: CUDA events and the
allocator's peak; on a CPU: wall time and the peak of bytes allocated by PyTorch, replayed from the
profiler's per-op memory records (deterministic, unlike RSS). Every figure is also a ratio to softmax
measured in the same run. An out-of-memory is recorded as OOM, never a crash. Results are records
in the store (`kind: bench`), so the report can plot speed and memory against length.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import torch

from .attention import attention_schema, build_attention, get_attention_class, list_attentions
from .config import COMPILE_MODES, ModelConfig, validate_run_config
from .model import MultiHeadAttention
from .results import config_hash, write_record
from .train import compile_fresh

CPU_LENGTHS = (256, 512, 1024, 2048)
GPU_LENGTHS = (1024, 2048, 3072, 4096, 8192, 16384)


@dataclass
class BenchSettings:
    lengths: tuple = CPU_LENGTHS
    batch: int = 2
    dim: int = 256
    num_heads: int = 4
    causal: bool = False
    dtype: str = "float32"
    warmup: int = 1
    repeats: int = 3
    compile: bool = False
    compile_mode: str = "default"
    device: str = "cpu"


def _layer(name: str, settings: BenchSettings, max_len: int) -> torch.nn.Module:
    model = ModelConfig(name="bench", dim=settings.dim, num_heads=settings.num_heads, causal=settings.causal)
    layer = MultiHeadAttention(model, attention_schema(name)(name=name), max_len)
    return layer.to(settings.device, getattr(torch, settings.dtype))


def _cpu_peak_bytes(step) -> int:
    """Peak of live bytes allocated by PyTorch during `step`, from the profiler's memory records."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def measure(name: str, length: int, mode: str, settings: BenchSettings, build=None) -> dict:
    """Median milliseconds and peak bytes of one train or infer step, or status OOM / skipped.
    `build(name, settings, max_len)` makes the layer (default: the registered variant)."""
    result = {"attention": name, "length": length, "mode": mode, "status": "ok", "ms": None, "peak_bytes": None}
    if build is None and not get_attention_class(name).has_form(settings.causal):
        return {**result, "status": "skipped (no causal form)" if settings.causal else "skipped (causal only)"}
    device = torch.device(settings.device)
    try:
        torch.manual_seed(0)
        layer = (build or _layer)(name, settings, max_len=length)
        forward = compile_fresh(layer, mode=settings.compile_mode) if settings.compile else layer
        x = torch.randn(settings.batch, length, settings.dim, device=device, dtype=getattr(torch, settings.dtype),
                        requires_grad=(mode == "train"))

        def step():
            if mode == "train":
                forward(x, None).float().sum().backward()
            else:
                with torch.no_grad():
                    forward(x, None)

        for _ in range(settings.warmup):
            step()
        times = []
        for _ in range(settings.repeats):
            if device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                step()
                end.record()
                torch.cuda.synchronize(device)
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                step()
                times.append((time.perf_counter() - t0) * 1000)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            step()
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device) - base
        else:
            peak = _cpu_peak_bytes(step)
        return {**result, "ms": statistics.median(times), "peak_bytes": int(peak)}
    except torch.OutOfMemoryError:
        return {**result, "status": "OOM"}
    except RuntimeError as err:
        if "out of memory" in str(err).lower() or "not enough memory" in str(err).lower():
            return {**result, "status": "OOM"}
        raise
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def add_ratios(rows: list[dict]) -> list[dict]:
    """ms and memory relative to softmax at the same length and mode (measured in this run)."""
    reference = {(r["length"], r["mode"]): r for r in rows if r["attention"] == "softmax" and r["status"] == "ok"}
    for row in rows:
        ref = reference.get((row["length"], row["mode"]))
        ok = ref is not None and row["status"] == "ok"
        row["time_vs_softmax"] = row["ms"] / ref["ms"] if ok else None
        row["memory_vs_softmax"] = row["peak_bytes"] / ref["peak_bytes"] if ok and ref["peak_bytes"] else None
    return rows


def progress_line(row: dict, before: str = "", after: str = "") -> str:
    """One measured row as a line of progress: time and memory, or why there are none."""
    measured = f"{row['ms']:9.2f} ms {row['peak_bytes'] / 2**20:9.1f} MiB" if row["ms"] else row["status"]
    return f"  {before}{row['attention']:14s} L={row['length']:<6d} {after}{measured}"


def run_bench(names: list[str], settings: BenchSettings, store_dir: str | None, progress=print) -> list[dict]:
    rows = []
    for name in names:
        for length in settings.lengths:
            for mode in ("train", "infer"):
                row = measure(name, length, mode, settings)
                rows.append(row)
                progress(progress_line(row, after=f"{mode:5s} "))
    add_ratios(rows)
    if store_dir:
        write_bench_record(store_dir, rows, settings)
    return rows


def measure_model_step(task: str, name: str, steps: int, warmup: int, batch: int | None, length: int | None,
                       device: str, compile_mode: str = "default") -> dict:
    """Steps/s, peak memory and the data-wait share of whole training steps at the task's published
    model size (`experiment=lra/<task>`), on synthetic tokens through the real input pipeline."""
    import tempfile

    from .cli import _compose
    from .data import Split, TaskData
    from .model import Classifier
    from .train import Trainer, training_indices

    run = validate_run_config(_compose([f"experiment=lra/{task}", f"attention={name}"]))
    max_len = length or run.task.max_len
    batch = batch or run.trainer.batch_size
    two_tower = getattr(run.task, "two_tower", False)
    shape = (batch * 4, 2, max_len) if two_tower else (batch * 4, max_len)
    generator = torch.Generator().manual_seed(0)
    split = Split(torch.randint(1, 257, shape, generator=generator, dtype=torch.int16),
                  torch.randint(0, run.task.num_classes, (shape[0],), generator=generator))
    data = TaskData(split, split, split, vocab_size=257, num_classes=run.task.num_classes, tokenization="random")
    run.trainer.device, run.trainer.batch_size, run.trainer.compile_mode = device, batch, compile_mode
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
                    else _cpu_peak_bytes(lambda: trainer.train_step(*loader._make())))
        return {**result, "steps_per_s": steps / elapsed, "peak_bytes": int(peak),
                "data_wait_share": loader.wait_seconds / elapsed, "precision": trainer.precision,
                "compiled": trainer.forward_model is not trainer.model}
    except torch.OutOfMemoryError:
        return {**result, "status": "OOM"}


def state_bytes(state: dict) -> int:
    """Bytes the state holds for the tokens seen (a preallocated cache counts its used part only)."""
    used = state.get("length")
    return sum((t[:, :, :used] if used is not None and t.ndim == 4 else t).numel() * t.element_size()
               for t in state.values() if torch.is_tensor(t))


def measure_decode(name: str, context: int, settings: BenchSettings, tokens: int = 64) -> dict:
    """Per-token latency of `step` after a prompt of `context` tokens, and the size of the state it keeps."""
    result = {"attention": name, "length": context, "mode": "decode", "status": "ok", "ms": None, "peak_bytes": None}
    device, dtype = torch.device(settings.device), getattr(torch, settings.dtype)
    heads, dim_head = settings.num_heads, settings.dim // settings.num_heads
    try:
        torch.manual_seed(0)
        module = build_attention(attention_schema(name)(name=name), dim_head=dim_head, num_heads=heads, causal=True,
                                 max_len=context + tokens + 1).to(device, dtype)
        prompt = [torch.randn(settings.batch, heads, context, dim_head, device=device, dtype=dtype) for _ in range(3)]
        with torch.no_grad():
            state = module.prefill(*prompt)
            del prompt
            times = []
            for _ in range(tokens):
                q, k, v = (torch.randn(settings.batch, heads, dim_head, device=device, dtype=dtype) for _ in range(3))
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                out, state = module.step(state, q, k, v)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                times.append((time.perf_counter() - start) * 1000)
        return {**result, "ms": statistics.median(times[4:] or times), "peak_bytes": state_bytes(state)}
    except (torch.OutOfMemoryError, MemoryError):
        return {**result, "status": "OOM"}


def write_bench_record(store_dir: str, rows: list[dict], settings: BenchSettings):
    device = (torch.cuda.get_device_name(0) if settings.device.startswith("cuda")
              else f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)")
    identity = {"settings": asdict(settings), "attentions": sorted({r["attention"] for r in rows}), "device": device}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    write_record(store_dir, {"run_id": f"bench__{config_hash(identity)}__{stamp}", "kind": "bench",
                             "status": "ok", "device": device, "settings": asdict(settings), "rows": rows,
                             "torch": torch.__version__, "finished_at": datetime.now(timezone.utc).isoformat()})


def format_table(rows: list[dict], modes=("train", "infer"), title: str = "") -> str:
    """Markdown table: ms and MiB per variant and length, with the ratio to softmax in parentheses."""
    import pandas as pd

    def cell(r, value, ratio, unit):
        if r["status"] != "ok":
            return r["status"]
        return f"{value:.1f}{unit} ({ratio:.2f}x)" if ratio is not None else f"{value:.1f}{unit}"

    frame = pd.DataFrame([{
        "attention": r["attention"], "mode": r["mode"], "length": r["length"],
        "time (vs softmax)": cell(r, r["ms"] or 0, r["time_vs_softmax"], " ms"),
        "memory (vs softmax)": cell(r, (r["peak_bytes"] or 0) / 2**20, r["memory_vs_softmax"], " MiB"),
    } for r in rows])
    parts = []
    for column in ("time (vs softmax)", "memory (vs softmax)"):
        for mode in modes:
            table = frame[frame["mode"] == mode].pivot(index="attention", columns="length", values=column)
            parts.append(f"### {title}{mode}: {column}\n\n" + table.to_markdown(disable_numparse=True))
    return "\n\n".join(parts)


def main(args: list[str]) -> int:
    from .config import PROJECT_ROOT
    from .errors import ConfigError

    parser = argparse.ArgumentParser(prog="lra-bench bench", description=__doc__.splitlines()[0])
    parser.add_argument("--attentions", default="*", help="comma-separated names or a wildcard (default: all)")
    parser.add_argument("--lengths", default=None, help="comma-separated lengths (default: 256..2048 on CPU, "
                                                        "1K..16K on CUDA)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 2 on CPU, 8 on CUDA)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--dtype", default=None, help="float32 or bfloat16 (default: bfloat16 on CUDA)")
    parser.add_argument("--causal", action="store_true", help="benchmark the causal forms")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="measure the layer under torch.compile (default: on CUDA, as the trainer does; "
                             "--no-compile for eager)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--store", default=str(PROJECT_ROOT / "results" / "runs"), help="results store ('' = none)")
    parser.add_argument("--model", default=None, metavar="TASKS",
                        help="time whole training steps at the published model size of these tasks "
                             "(comma-separated, e.g. listops,text) instead of one attention layer")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant with --model")
    parser.add_argument("--length", type=int, default=None, help="sequence length with --model (default: task's)")
    parser.add_argument("--check", action="store_true",
                        help="measure and judge the GPU speed targets (time vs SDPA at 4K and 16K, memory linear in "
                             "length, causal forms vs fla's chunked kernel); PASS/MISS per variant")
    parser.add_argument("--compile-mode", default="default", choices=COMPILE_MODES,
                        help="torch.compile mode (reduce-overhead: CUDA graphs, for launch-bound sizes)")
    parser.add_argument("--out", default=None, help="also write the tables (markdown) to this file")
    parser.add_argument("--decode", action="store_true",
                        help="per-token latency and state memory of recurrent decoding vs context length "
                             "(variants with a step API; softmax with a growing key/value cache)")
    opts = parser.parse_args(args)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if opts.device == "auto" else opts.device
    gpu = device.startswith("cuda")
    if "," in opts.attentions or opts.attentions in list_attentions():
        names = [n.strip() for n in opts.attentions.split(",")]
    else:
        names = list_attentions(opts.attentions)
    unknown = [n for n in names if n not in list_attentions()]
    if unknown or not names:
        raise ConfigError(f"--attentions: unknown {', '.join(unknown) or opts.attentions}; registered: "
                          f"{', '.join(list_attentions())}")
    if "softmax" not in names:
        names = ["softmax", *names]  # ratios need the reference measured in the same run
    if opts.model:
        return model_bench(opts.model.split(","), names, opts, device)
    if opts.check:
        return check_bench(names, opts, device, gpu)
    if opts.decode:
        return decode_bench([n for n in names if get_attention_class(n).supports_step], opts, device, gpu)
    settings = _layer_settings(opts, device, gpu, GPU_LENGTHS if gpu else CPU_LENGTHS)
    rows = run_bench(names, settings, opts.store or None)
    _emit(format_table(rows), opts.out)
    return 0


def _layer_settings(opts, device: str, gpu: bool, default_lengths: tuple) -> BenchSettings:
    from .errors import ConfigError

    try:
        lengths = tuple(int(x) for x in opts.lengths.split(",")) if opts.lengths else default_lengths
    except ValueError:
        raise ConfigError(f"--lengths: expected comma-separated integers, got '{opts.lengths}'") from None
    settings = BenchSettings(lengths=lengths, batch=opts.batch or (8 if gpu else 2), device=device,
                             dtype=opts.dtype or ("bfloat16" if gpu else "float32"), causal=opts.causal,
                             compile=gpu if opts.compile is None else opts.compile, compile_mode=opts.compile_mode,
                             repeats=opts.repeats)
    compiled = f"compiled ({settings.compile_mode})" if settings.compile else "eager"
    print(f"bench on {device} ({settings.dtype}, {compiled}), batch "
          f"{settings.batch}, dim {settings.dim}, {settings.num_heads} heads, lengths {', '.join(map(str, lengths))}")
    return settings


def _emit(text: str, out: str | None):
    print("\n" + text)
    if out:
        from .atomic import atomic_write

        with atomic_write(out) as handle:
            handle.write(text + "\n")


def check_bench(names: list[str], opts, device: str, gpu: bool) -> int:
    """`bench --check`: the speed targets of speed_check.py, measured side by side and judged."""
    from .speed_check import CPU_CHECK_LENGTHS, GPU_CHECK_LENGTHS, evaluate, format_verdicts, measure_all

    settings = _layer_settings(opts, device, gpu, GPU_CHECK_LENGTHS if gpu else CPU_CHECK_LENGTHS)
    if not gpu:
        print("note: the targets are for a GPU; on a CPU this only exercises the check")
    rows = measure_all(names, settings)
    tables = [format_verdicts(evaluate(rows))]
    for form in ("non-causal", "causal"):
        group = add_ratios([r for r in rows if r["form"] == form])
        tables.append(format_table(group, modes=("train",), title=f"{form} "))
    if opts.store:
        write_bench_record(opts.store, rows, settings)
    _emit("\n\n".join(tables), opts.out)
    return 0


def model_bench(tasks: list[str], names: list[str], opts, device: str) -> int:
    """`bench --model`: steps/s per variant and task, ratio to softmax, memory, share of time waiting for data."""
    import pandas as pd

    rows = []
    for task in tasks:
        for name in names:
            row = measure_model_step(task, name, opts.steps, warmup=2, batch=opts.batch, length=opts.length,
                                     device=device, compile_mode=opts.compile_mode)
            rows.append(row)
            print(f"  {task:10s} {name:14s} " + (f"{row['steps_per_s']:8.2f} steps/s  {row['peak_bytes'] / 2**20:9.1f} "
                                                 f"MiB  data {100 * row['data_wait_share']:.1f}%"
                                                 if row["status"] == "ok" else row["status"]))
    frame = pd.DataFrame(rows)
    reference = frame[frame.attention == "softmax"].set_index("task").steps_per_s
    frame["speed_vs_softmax"] = frame.steps_per_s / frame.task.map(reference)
    frame["cell"] = frame.apply(lambda r: r["status"] if r["status"] != "ok" else
                                f"{r['steps_per_s']:.2f}/s ({r['speed_vs_softmax']:.2f}x), "
                                f"data {100 * r['data_wait_share']:.1f}%", axis=1)
    _emit("### whole training step: steps/s (speed vs softmax), share of step time waiting for data\n\n"
          + frame.pivot(index="attention", columns="task", values="cell").to_markdown(disable_numparse=True), opts.out)
    if opts.store:
        settings = BenchSettings(lengths=tuple(sorted(set(frame.length))), device=device, repeats=opts.steps)
        write_bench_record(opts.store, [{**r, "mode": "model"} for r in rows], settings)
    return 0


DECODE_CPU_CONTEXTS = (1024, 4096, 16384, 65536)


def decode_bench(names: list[str], opts, device: str, gpu: bool) -> int:
    """`bench --decode`: one row per variant and context; ratios to softmax's cache in the same run."""
    import pandas as pd

    contexts = tuple(int(x) for x in opts.lengths.split(",")) if opts.lengths else DECODE_CPU_CONTEXTS
    settings = BenchSettings(lengths=contexts, batch=opts.batch or 1, device=device,
                             dtype=opts.dtype or ("bfloat16" if gpu else "float32"))
    rows = []
    for name in names:
        for context in contexts:
            row = measure_decode(name, context, settings)
            rows.append(row)
            print(f"  {name:14s} context {context:<7d} " + (f"{row['ms']:8.3f} ms/token  state {row['peak_bytes'] / 2**20:9.2f} MiB"
                                                           if row["status"] == "ok" else row["status"]))
    add_ratios(rows)
    frame, tables = pd.DataFrame(rows), []
    for column, unit, scale, ratio in (("ms", " ms", 1.0, "time_vs_softmax"),
                                       ("peak_bytes", " MiB", 2**-20, "memory_vs_softmax")):
        frame["cell"] = frame.apply(lambda r: r["status"] if r["status"] != "ok" else
                                    f"{r[column] * scale:.3g}{unit} ({r[ratio]:.2f}x)", axis=1)
        title = "per-token latency" if column == "ms" else "decoding state"
        tables.append(f"### {title} (vs softmax with a key/value cache)\n\n"
                      + frame.pivot(index="attention", columns="length", values="cell").to_markdown(disable_numparse=True))
    _emit("\n\n".join(tables), opts.out)
    if opts.store:
        write_bench_record(opts.store, rows, settings)
    return 0
