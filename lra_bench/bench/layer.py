"""One attention layer's speed and memory against softmax (`lra-bench bench`; LRA Table 2, Fig. 3).

One multi-head attention layer (shared projections + the variant) at an LRA model size (Text:
dim 256, 4 heads of 64), forward+backward ("train") and forward under no_grad ("infer"), over
sequence lengths. Timing (issue 19, "Bench statistics"): in blocks of runs (`BlockTimer`), on a CPU
on a fixed number of threads (`--threads`, 1 by default, and then in process CPU time: `cpu_clock`,
with glibc's malloc kept steady: `steady_cpu_allocator`), on CUDA with CUDA events. Softmax and the
variants at one length and mode are timed in rounds of alternating blocks (S V_a V_b S V_c V_d ... S),
and a variant's time ratio is the median of its per-pair ratios V / mean(S before, S after its group):
a machine whose load drifts slows the blocks of a group alike. The pairs come from `passes` passes over the
whole grid, each with fresh layers and inputs at other heap offsets (on a CPU each in its own
process), so the spread of a cell's ratios also holds what one layer instance, one process and one
stretch of the run cannot show. The aim, checked by `bench --compare`: two runs agree within a cell's
printed IQR, or the cell says `unstable` (per-pair IQR over 10% of the median, or split-half drift).
Memory: on CUDA the allocator's peak; on a CPU the peak of bytes allocated by PyTorch, replayed from
the profiler's per-op memory records (deterministic, unlike RSS; the profiler's own lines on stderr
are silenced). An out-of-memory is recorded as OOM, never a crash. Results are records in the store
(`kind: bench`), so the report can plot speed and memory against length.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..attention import attention_schema, get_attention_class
from ..config import ModelConfig
from ..device import describe_device, step_peak_bytes
from ..errors import ConfigError
from ..model import MultiHeadAttention
from ..results import RECORD_VERSION, BenchRecord, config_hash, write_record
from ..train import compile_fresh
from .timing import BlockTimer, clock_name, cpu_clock, is_out_of_memory, ratio_text, time_summary

CPU_LENGTHS = (256, 512, 1024, 2048)
# Passes on a CPU, 3 pairs each: 36 pairs per cell. Two runs' medians must agree within a cell's IQR (a
# spread of single pairs), and the median moves by ~1/sqrt(pairs) of that spread, more where a pass's
# pairs share its luck (this VM: intra-class correlation 0.21-0.47 between a pass's pairs). Drawn from that
# model, 152 cells fail the two-run check (`bench --compare`, within the pooled IQR) 2.4 times at 6 passes
# (measured here: 2, 3) and 0.07 at 12 (measured: 0, 0); within the smaller IQR 6-8 (measured: 7, 16) and 0.5
# (measured: 3, 1). results/bench/ has the pairs.
CPU_PASSES = 12
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
    repeats: int = 3  # timed blocks of each cell per pass (each paired with the softmax blocks around its group)
    passes: int = CPU_PASSES  # passes over the whole grid, each with fresh layers and inputs
    seed: int | None = None  # of the passes' heap padding and round orders; None: drawn per run (recorded)
    process_per_pass: bool = False  # each pass in a fresh Python process (`run_pass_in_new_process`)
    min_run_time: float = 0.2  # seconds of a variant's timing per cell, in its passes x repeats blocks
    threads: int | None = None  # CPU threads the timed step runs on (None: torch's current setting)
    compile: bool = False
    compile_mode: str = "default"
    device: str = "cpu"


def build_layer(name: str, settings: BenchSettings, max_len: int) -> torch.nn.Module:
    model = ModelConfig(name="bench", dim=settings.dim, num_heads=settings.num_heads, causal=settings.causal)
    layer = MultiHeadAttention(model, attention_schema(name)(name=name), max_len)
    return layer.to(settings.device, getattr(torch, settings.dtype))


def prepare_step(name: str, length: int, mode: str, settings: BenchSettings, build=None, profile: bool = True):
    """(row, step): the row (status, peak bytes unless `profile` is false) and the warmed-up train or
    infer step to time, or (row with status OOM / skipped, None). `build(name, settings, max_len)` makes
    the layer (default: the registered variant)."""
    result = {"attention": name, "length": length, "mode": mode, "status": "ok", "ms": None, "peak_bytes": None,
              "clock": clock_name(settings)}
    if build is None and not get_attention_class(name).has_form(settings.causal):
        return {**result, "status": "skipped (no causal form)" if settings.causal else "skipped (causal only)"}, None
    device = torch.device(settings.device)
    with out_of_memory_as_status(result, device):
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
        if profile:
            with quiet_stderr():
                result["peak_bytes"] = int(step_peak_bytes(step, device))
        return result, step
    return result, None


@contextmanager
def out_of_memory_as_status(row: dict, device: torch.device):
    """An out-of-memory inside the block sets row["status"] = "OOM" (and clears its numbers) instead of
    raising; any other error raises."""
    try:
        yield
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        row.update(status="OOM", ms=None, peak_bytes=None)
    finally:
        if device.type == "cuda":
            torch.cuda.empty_cache()


def measure(name: str, length: int, mode: str, settings: BenchSettings, build=None) -> dict:
    """Median milliseconds (with quartiles) and peak bytes of one train or infer step timed on its own
    (`settings.repeats` blocks, one layer instance), or status OOM / skipped. `run_bench` times variants
    interleaved with softmax instead (passes.py), for their ratios."""
    row, step = prepare_step(name, length, mode, settings, build)
    if step is not None:
        device = torch.device(settings.device)
        with out_of_memory_as_status(row, device):
            timer = BlockTimer(step, device, replace(settings, passes=1))  # blocks sized for one pass
            row.update(time_summary([timer.block() for _ in range(max(settings.repeats, 1))]))
    return row


@contextmanager
def quiet_stderr():
    """Silence file descriptor 2 (the CPU profiler's C++ start/stop lines) for the block; Python
    exceptions still surface after it."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def add_ratios(rows: list[dict]) -> list[dict]:
    """Time and memory relative to softmax at the same length and mode (measured in this run). A row
    timed interleaved with softmax keeps its per-pair time ratio (passes.py); a row timed
    apart (decode, `--check`) gets ms / softmax's ms, the range its quartiles allow [q1 / softmax's q3,
    q3 / softmax's q1], unstable when either cell is; a row whose softmax cell failed gets none."""
    reference = {(r["length"], r["mode"]): r for r in rows if r["attention"] == "softmax" and r["status"] == "ok"}
    for row in rows:
        ref = reference.get((row["length"], row["mode"]))
        ok = ref is not None and row["status"] == "ok"
        row["memory_vs_softmax"] = row["peak_bytes"] / ref["peak_bytes"] if ok and ref["peak_bytes"] else None
        if row.get("ratio_pairs"):
            continue
        if row is ref:
            row.update(time_vs_softmax=1.0, time_vs_softmax_range=None, ratio_unstable=False)
            continue
        row["time_vs_softmax"] = row["ms"] / ref["ms"] if ok else None
        quartiles = ok and all(r.get(k) for r in (row, ref) for k in ("ms_q1", "ms_q3"))
        row["time_vs_softmax_range"] = ([row["ms_q1"] / ref["ms_q3"], row["ms_q3"] / ref["ms_q1"]]
                                        if quartiles else None)
        row["ratio_unstable"] = bool(ok and (row.get("unstable") or ref.get("unstable")))
    return rows


def progress_line(row: dict, before: str = "", after: str = "", count: str = "") -> str:
    """One measured row as a line of progress (`count`: "k/N"): time with its IQR, the paired ratio to
    softmax with its IQR, and memory; or why there are none."""
    if row["ms"]:
        spread = f" ±{row['iqr_ms'] / 2:.2f}" if row.get("iqr_ms") is not None else ""
        ratio = ""
        if row.get("ratio_pairs"):
            ratio = f" ({ratio_text(row['time_vs_softmax'], row['ratio_iqr'], row['ratio_unstable'])})"
        measured = (f"{row['ms']:9.2f}{spread} ms{ratio} {row['peak_bytes'] / 2**20:9.1f} MiB"
                    + (" (ms unstable)" if row.get("unstable") else ""))
    else:
        measured = row["status"]
    return f"  {count + ' ' if count else ''}{before}{row['attention']:14s} L={row['length']:<6d} {after}{measured}"


def write_bench_record(store_dir: str, rows: list[dict], settings: BenchSettings) -> Path:
    """One `kind: bench` record of `rows`, named by the settings, variants and device (and the time)."""
    device = describe_device(settings.device)
    settings_without_seed = {k: v for k, v in asdict(settings).items() if k != "seed"}  # the seed: per run
    identity = {"settings": settings_without_seed, "attentions": sorted({r["attention"] for r in rows}),
                "device": device}
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")  # two runs within a second keep two records
    record = BenchRecord(run_id=f"bench__{config_hash(identity)}__{stamp}", device=device,
                         finished_at=datetime.now(timezone.utc).isoformat(), settings=asdict(settings), rows=rows,
                         version=RECORD_VERSION, torch=torch.__version__)
    return write_record(store_dir, record.to_json())


def format_table(rows: list[dict], modes=("train", "infer"), title: str = "") -> str:
    """Markdown table: ms and MiB per variant and length, with the ratio to softmax in parentheses."""
    import pandas as pd

    def cell(r, value, ratio, unit):
        if r["status"] != "ok":
            return r["status"]
        return f"{value:.1f}{unit} ({ratio:.2f}x)" if ratio is not None else f"{value:.1f}{unit}"

    def time_cell(r):
        """median ms ± half the IQR and the ratio to softmax: a paired ratio with the IQR of its per-pair
        ratios, `unstable` when that IQR is over 10% of it, `(ms unstable)` when only the absolute time's
        IQR is; a ratio of cells timed apart with the range their quartiles allow, `unstable` when either
        cell's IQR is over 10%."""
        if r["status"] != "ok" or r.get("iqr_ms") is None:
            return cell(r, r["ms"] or 0, r["time_vs_softmax"], " ms")
        text = f"{r['ms']:.1f} ±{r['iqr_ms'] / 2:.1f} ms"
        if r.get("ratio_pairs"):
            ratio = ratio_text(r["time_vs_softmax"], r["ratio_iqr"], r["ratio_unstable"])
            return f"{text} ({ratio})" + (" (ms unstable)" if r["unstable"] else "")
        if r["time_vs_softmax"] is not None:
            text += f" ({ratio_text(r['time_vs_softmax'], interval=r.get('time_vs_softmax_range'))})"
        return text + (" unstable" if r.get("unstable") or r.get("ratio_unstable") else "")

    frame = pd.DataFrame([{
        "attention": r["attention"], "mode": r["mode"], "length": r["length"],
        "time (vs softmax)": time_cell(r),
        "memory (vs softmax)": cell(r, (r["peak_bytes"] or 0) / 2**20, r["memory_vs_softmax"], " MiB"),
    } for r in rows])
    parts = []
    for column in ("time (vs softmax)", "memory (vs softmax)"):
        for mode in modes:
            table = frame[frame["mode"] == mode].pivot(index="attention", columns="length", values=column)
            parts.append(f"### {title}{mode}: {column}\n\n" + table.to_markdown(disable_numparse=True))
    return "\n\n".join(parts)


def layer_settings(opts, device: str, gpu: bool, default_lengths: tuple, passes: int | None = None) -> BenchSettings:
    """The layer settings of a command line: CUDA runs bf16, compiled, batch 8; a CPU float32, eager, batch 2.
    `passes` overrides `--passes` (`--check` times each cell in one pass)."""
    try:
        lengths = tuple(int(x) for x in opts.lengths.split(",")) if opts.lengths else default_lengths
    except ValueError:
        raise ConfigError(f"--lengths: expected comma-separated integers, got '{opts.lengths}'") from None
    settings = BenchSettings(lengths=lengths, batch=opts.batch or (8 if gpu else 2), device=device,
                             dtype=opts.dtype or ("bfloat16" if gpu else "float32"), causal=opts.causal,
                             compile=gpu if opts.compile is None else opts.compile, compile_mode=opts.compile_mode,
                             repeats=opts.repeats, passes=passes or opts.passes, threads=opts.threads,
                             min_run_time=opts.min_time, process_per_pass=bool(opts.process_per_pass and not passes),
                             seed=opts.seed)
    compiled = f"compiled ({settings.compile_mode})" if settings.compile else "eager"
    threads = f", {settings.threads} CPU thread{'s' if settings.threads != 1 else ''}" if settings.threads else ""
    threads += ", timed in process CPU time" if cpu_clock(settings) else ""
    threads += f", {settings.passes} pass{'es' if settings.passes != 1 else ''} x {settings.repeats} blocks per cell"
    threads += ", a process per pass" if settings.process_per_pass else ""
    print(f"bench on {device} ({settings.dtype}, {compiled}{threads}), batch "
          f"{settings.batch}, dim {settings.dim}, {settings.num_heads} heads, lengths {', '.join(map(str, lengths))}")
    return settings


def emit(text: str, out: str | None):
    """Print a result table, and write it to `out` too when given."""
    print("\n" + text)
    if out:
        from ..atomic import atomic_write

        with atomic_write(out) as handle:
            handle.write(text + "\n")
