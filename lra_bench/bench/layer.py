"""One attention layer's speed and memory against softmax (`lra-bench bench`; LRA Table 2, Fig. 3).

One multi-head attention layer (shared projections + the variant) at an LRA model size (Text:
dim 256, 4 heads of 64), forward+backward ("train") and forward under no_grad ("infer"), over
sequence lengths, with warm-up, repeated timings and the median. On CUDA: CUDA events and the
allocator's peak; on a CPU: wall time and the peak of bytes allocated by PyTorch, replayed from the
profiler's per-op memory records (deterministic, unlike RSS). Every figure is also a ratio to softmax
measured in the same run. An out-of-memory is recorded as OOM, never a crash. Results are records
in the store (`kind: bench`), so the report can plot speed and memory against length.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import torch

from ..attention import attention_schema, get_attention_class
from ..config import ModelConfig
from ..device import describe_device, step_peak_bytes
from ..errors import ConfigError
from ..model import MultiHeadAttention
from ..results import RECORD_VERSION, BenchRecord, config_hash, write_record
from ..train import compile_fresh

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


def build_layer(name: str, settings: BenchSettings, max_len: int) -> torch.nn.Module:
    model = ModelConfig(name="bench", dim=settings.dim, num_heads=settings.num_heads, causal=settings.causal)
    layer = MultiHeadAttention(model, attention_schema(name)(name=name), max_len)
    return layer.to(settings.device, getattr(torch, settings.dtype))


def measure(name: str, length: int, mode: str, settings: BenchSettings, build=None) -> dict:
    """Median milliseconds and peak bytes of one train or infer step, or status OOM / skipped.
    `build(name, settings, max_len)` makes the layer (default: the registered variant)."""
    result = {"attention": name, "length": length, "mode": mode, "status": "ok", "ms": None, "peak_bytes": None}
    if build is None and not get_attention_class(name).has_form(settings.causal):
        return {**result, "status": "skipped (no causal form)" if settings.causal else "skipped (causal only)"}
    device = torch.device(settings.device)
    try:
        torch.manual_seed(0)
        layer = (build or build_layer)(name, settings, max_len=length)
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
        peak = step_peak_bytes(step, device)
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


def write_bench_record(store_dir: str, rows: list[dict], settings: BenchSettings):
    """One `kind: bench` record of `rows`, named by the settings, variants and device (and the time)."""
    device = describe_device(settings.device)
    identity = {"settings": asdict(settings), "attentions": sorted({r["attention"] for r in rows}), "device": device}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    record = BenchRecord(run_id=f"bench__{config_hash(identity)}__{stamp}", device=device,
                         finished_at=datetime.now(timezone.utc).isoformat(), settings=asdict(settings), rows=rows,
                         version=RECORD_VERSION, torch=torch.__version__)
    write_record(store_dir, record.to_json())


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


def layer_settings(opts, device: str, gpu: bool, default_lengths: tuple) -> BenchSettings:
    """The layer settings of a command line: CUDA runs bf16, compiled, batch 8; a CPU float32, eager, batch 2."""
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


def emit(text: str, out: str | None):
    """Print a result table, and write it to `out` too when given."""
    print("\n" + text)
    if out:
        from ..atomic import atomic_write

        with atomic_write(out) as handle:
            handle.write(text + "\n")
