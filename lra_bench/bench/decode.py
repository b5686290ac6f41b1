"""Recurrent decoding (`lra-bench bench --decode`): per-token latency of `step` after a prompt, and the
size of the state a variant keeps, against softmax with a growing key/value cache."""

from __future__ import annotations

import statistics
import time

import torch

from ..attention import attention_schema, build_attention
from .layer import BenchSettings, add_ratios, emit, write_bench_record

DECODE_CPU_CONTEXTS = (1024, 4096, 16384, 65536)
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


def decode_bench(names: list[str], opts, device: str, gpu: bool) -> int:
    """`bench --decode`: one row per variant and context; ratios to softmax's cache in the same run."""
    import pandas as pd

    contexts = tuple(int(x) for x in opts.lengths.split(",")) if opts.lengths else DECODE_CPU_CONTEXTS
    settings = BenchSettings(lengths=contexts, batch=opts.batch or 1, device=device,
                             dtype=opts.dtype or ("bfloat16" if gpu else "float32"), passes=1)
    rows = []
    for name in names:
        for context in contexts:
            row = measure_decode(name, context, settings)
            rows.append(row)
            print(f"  {len(rows)}/{len(names) * len(contexts)} {name:14s} context {context:<7d} " + (f"{row['ms']:8.3f} ms/token  state {row['peak_bytes'] / 2**20:9.2f} MiB"
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
    emit("\n\n".join(tables), opts.out)
    if opts.store:
        print(f"record: {write_bench_record(opts.store, rows, settings)}")
    return 0
