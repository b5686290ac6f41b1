"""`lra-bench bench`: the command line of the benchmarks, one mode per flag.

Default: one attention layer over sequence lengths (layer.py); `--check`: the GPU speed targets
(speed_check.py); `--model`: whole training steps (model_step.py); `--decode`: recurrent decoding
(decode.py). Every mode measures softmax in the same run, for the ratios.
"""

from __future__ import annotations

import argparse

from ..attention import get_attention_class, list_attentions
from ..config import COMPILE_MODES, PROJECT_ROOT
from ..device import resolve_device
from ..errors import ConfigError
from .compare import compare_command
from .decode import decode_bench
from .layer import CPU_LENGTHS, CPU_PASSES, GPU_LENGTHS, emit, format_table, layer_settings, write_bench_record
from .passes import run_bench, with_seed
from .model_step import model_bench
from .speed_check import check_bench
from .timing import timing_process


def main(args: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="lra-bench bench", description="`lra-bench bench`: speed and memory of "
                                     "every attention variant against softmax (LRA Table 2, Fig. 3).")
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
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed blocks per cell and pass, each between two of softmax's, for the median and IQR "
                             "of the per-pair ratio (default 3 on a CPU; 5 on CUDA and with --model)")
    parser.add_argument("--passes", type=int, default=None,
                        help="passes over the whole grid, each with fresh layers and inputs, so a cell's spread holds "
                             "what one instance and one stretch of the run cannot show (default 12 on a CPU; 1 on "
                             "CUDA, where each pass compiles again)")
    parser.add_argument("--process-per-pass", action=argparse.BooleanOptionalAction, default=None,
                        help="run each pass in a fresh Python process, so that process-wide luck (code and heap "
                             "layout, physical pages) varies between passes too (default: on a CPU)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the passes' heap padding and round orders (default: drawn per run; the record "
                             "keeps it, so a run can be replayed)")
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="seconds of timing per cell, split into its passes x repeats blocks")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default 1 on a CPU, timed in process CPU time, for ratios that hold "
                             "on a shared machine)")
    parser.add_argument("--store", default=str(PROJECT_ROOT / "results" / "runs"), help="results store ('' = none)")
    parser.add_argument("--model", default=None, metavar="TASKS",
                        help="time whole training steps at the published model size of these tasks "
                             "(comma-separated, e.g. listops,text) instead of one attention layer")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant with --model (in --repeats blocks, "
                        "interleaved with softmax's)")
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
    parser.add_argument("--compare", nargs="*", default=None, metavar="RECORD",
                        help="compare two layer-bench runs instead of measuring: two record files, or none for the "
                             "store's two newest with the same settings; a cell agrees when its ratios differ by no "
                             "more than their pooled IQR, or says it was marked unstable; exit 1 when one disagrees "
                             "unmarked")
    parser.add_argument("--wandb", action="store_true", help="also log the rows to W&B (job_type bench; "
                        "WANDB_MODE, offline when unset)")
    opts = parser.parse_args(args)
    if opts.compare is not None:
        return compare_command(opts.compare, opts.store, opts.out)
    device = str(resolve_device(opts.device))
    gpu = device.startswith("cuda")
    if opts.threads is None and not gpu:
        opts.threads = 1
    if opts.repeats is None:
        opts.repeats = 5 if gpu or opts.model else 3
    if opts.passes is None:
        opts.passes = 1 if gpu else CPU_PASSES
    if opts.process_per_pass is None:
        opts.process_per_pass = not gpu
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
    with timing_process(opts.threads, cpu=not gpu):
        return run_mode(names, opts, device, gpu)


def run_mode(names: list[str], opts, device: str, gpu: bool) -> int:
    """The mode the flags ask for: --model, --check, --decode, or the layer bench."""
    if opts.model:
        return model_bench(opts.model.split(","), names, opts, device)
    if opts.check:
        return check_bench(names, opts, device, gpu)
    if opts.decode:
        return decode_bench([n for n in names if get_attention_class(n).supports_step], opts, device, gpu)
    settings = layer_settings(opts, device, gpu, GPU_LENGTHS if gpu else CPU_LENGTHS)
    settings = with_seed(settings)  # the record says which
    rows = run_bench(names, settings, None)
    emit(format_table(rows), opts.out)
    if opts.wandb:
        log_bench(rows, settings)
    if opts.store:
        print(f"record: {write_bench_record(opts.store, rows, settings)}")
    return 0


def log_bench(rows: list[dict], settings):
    """The bench rows as a `wandb.Table` in a W&B run of job_type `bench`."""
    from dataclasses import asdict

    import pandas as pd

    from ..tracking import command_tracker

    tracker = command_tracker("bench", PROJECT_ROOT / "outputs" / "bench", asdict(settings))
    raw = ["block_ms", "pair_ratios", "ratio_halves"]  # lists of raw timings: the record keeps them
    frame = pd.DataFrame(rows).drop(columns=raw, errors="ignore")
    for column in ("time_vs_softmax_range", "speed_range"):  # [low, high] pairs: two columns in the table
        if column in frame:
            bounds = frame.pop(column)
            frame[f"{column}_low"] = [b[0] if isinstance(b, list) else None for b in bounds]
            frame[f"{column}_high"] = [b[1] if isinstance(b, list) else None for b in bounds]
    tracker.table("bench_rows", frame)
    print(f"W&B: {tracker.path}")
    tracker.finish()
