"""Timing for the benchmarks (issue 19, "Bench statistics"): blocks of runs of a step, softmax and a
variant timed interleaved in block pairs, and the statistics of what comes out (median, IQR, an
interval for a median, the 10% rule that marks a figure unstable).

Why interleaved: on a shared machine load drifts; timing all of softmax and then all of a variant
compares two loads (the same `make bench` run twice once gave linear at 1024 0.24x and 0.89x). Blocks
S V S V ... S slow both sides of a pair alike, so the per-pair ratio holds.
"""

from __future__ import annotations

import math
import time
import timeit

import numpy as np
import torch
import torch.utils.benchmark as benchmark

UNSTABLE_SPREAD = 0.10  # a cell (or ratio) whose IQR exceeds 10% of its median is marked unstable


def cpu_clock(settings) -> bool:
    """Whether blocks are timed in process CPU time rather than wall time: on a CPU at one thread (the
    default), where CPU time is the step's cost and leaves out the time other processes hold the core
    (on a machine shared with other jobs that waiting, not the step, dominates wall time); at more
    threads CPU time would add the threads up, so wall time it is."""
    return torch.device(settings.device).type == "cpu" and settings.threads == 1


def clock_name(settings) -> str:
    """The clock a layer row's times are on, as its record states it."""
    if torch.device(settings.device).type == "cuda":
        return "CUDA events"
    return "process CPU time" if cpu_clock(settings) else "wall time"


class BlockTimer:
    """Times `step` in blocks of a fixed number of runs, so that one block lasts at least
    `settings.min_run_time / settings.repeats` seconds; `block()` is one block's mean ms per run. CPU:
    `torch.utils.benchmark.Timer.timeit` on `settings.threads` threads, on the clock `cpu_clock` picks;
    CUDA: a CUDA-event pair around the block."""

    def __init__(self, step, device: torch.device, settings):
        self.step, self.device = step, device
        self.timer = benchmark.Timer(stmt="step()", globals={"step": step},
                                     timer=time.process_time if cpu_clock(settings) else timeit.default_timer,
                                     num_threads=settings.threads or torch.get_num_threads())
        self.runs = 1
        once = self.block()
        block_ms = 1000 * settings.min_run_time / max(settings.repeats, 1)
        self.runs = max(1, math.ceil(block_ms / max(once, 1e-6)))

    def block(self) -> float:
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(self.runs):
                self.step()
            end.record()
            torch.cuda.synchronize(self.device)
            return start.elapsed_time(end) / self.runs
        return 1000 * self.timer.timeit(self.runs).times[0]


def time_interleaved(reference, variant, pairs: int) -> tuple[list[float], list[float]]:
    """The variant's block times and its time ratio to the reference per block pair, from blocks timed
    alternately R0 V1 R1 V2 ... Vn Rn: ratio_i = V_i / mean(R_(i-1), R_i). Load that drifts during the
    cell slows both sides of a pair alike, so each ratio holds where sequential cells (all of softmax,
    then all of the variant) would not; a change of load inside one pair spoils that pair only."""
    before = reference.block()
    times, ratios = [], []
    for _ in range(pairs):
        time = variant.block()
        after = reference.block()
        times.append(time)
        ratios.append(time / ((before + after) / 2))
        before = after
    return times, ratios


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = (float(v) for v in np.percentile(values, [25, 50, 75]))
    return q1, median, q3


def time_summary(times: list[float]) -> dict:
    """Median, quartiles and IQR (ms) of block times and how many blocks they rest on; `unstable` when
    IQR / median > 10%."""
    q1, median, q3 = quartiles(times)
    return {"ms": median, "ms_q1": q1, "ms_q3": q3, "iqr_ms": q3 - q1, "timings": len(times),
            "unstable": (q3 - q1) > UNSTABLE_SPREAD * median}


def median_interval(values: list[float], confidence: float = 0.95) -> list[float]:
    """A distribution-free interval for the median: the order statistics (k, n+1-k) with the largest k
    whose coverage 1 - 2 P(Binomial(n, 1/2) < k) is at least `confidence` (k = 1 when none is: with 5
    values that is their range, 94%)."""
    ordered, n = sorted(values), len(values)
    k = 1
    while k < (n + 1) // 2 and 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n <= 1 - confidence:
        k += 1
    return [ordered[k - 1], ordered[n - k]]


def ratio_summary(ratios: list[float]) -> dict:
    """The time ratio to softmax from per-pair ratios: their median, an interval for that median
    (`median_interval`), their quartiles and IQR; `ratio_unstable` when the IQR is over 10% of the median."""
    q1, median, q3 = quartiles(ratios)
    return {"time_vs_softmax": median, "time_vs_softmax_range": median_interval(ratios),
            "ratio_q1": q1, "ratio_q3": q3, "ratio_iqr": q3 - q1, "ratio_pairs": len(ratios),
            "ratio_unstable": (q3 - q1) > UNSTABLE_SPREAD * median}


def ratio_text(ratio: float, interval: list[float] | None = None, unstable: bool = False) -> str:
    """A ratio to softmax as the bench prints it: `0.52x [0.50-0.55] unstable` (interval and mark when given)."""
    text = f"{ratio:.2f}x"
    if interval:
        text += f" [{interval[0]:.2f}-{interval[1]:.2f}]"
    return text + (" unstable" if unstable else "")
