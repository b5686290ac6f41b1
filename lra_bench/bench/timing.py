"""Timing for the benchmarks (issue 19, "Bench statistics"): blocks of runs of a step, softmax and
variants timed interleaved (S V S V ... S, or S V V S V V ... S), and the statistics of what comes out
(median, IQR, an interval for a median, the 10% rule that marks a figure unstable).

Why interleaved: on a shared machine load drifts; timing all of softmax and then all of a variant
compares two loads (the same `make bench` run twice once gave linear at 1024 0.24x and 0.89x). Blocks
S V S V ... S (or S V V S ...) slow a variant and the softmax blocks around it alike, so the per-pair
ratio holds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import random
import time
import timeit
from contextlib import contextmanager, nullcontext

import numpy as np
import torch

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
    """Times `step` in blocks of `runs` runs (unless given, from one calibrating run: enough that a block
    lasts `settings.min_run_time` over the cell's `timed_blocks`); `block()` is one block's mean ms per
    run. CPU: the standard library's `timeit.Timer` on `settings.threads` threads, on the clock
    `cpu_clock` picks; CUDA: a CUDA-event pair around the block. Not `torch.utils.benchmark.Timer`:
    its `blocked_autorange` times one statement until done, so softmax and a variant could not
    alternate (the pairing the ratios rest on), and its `timeit` wraps the same `timeit.Timer` but first
    runs max(runs / 100, 2) untimed runs on every call: where a block is one run (long sequences) each
    timed run cost three (a round of one 1024-token section took 8.9 s for 2.9 s of timed blocks)."""

    def __init__(self, step, device: torch.device, settings, runs: int | None = None):
        self.step, self.device, self.threads = step, device, settings.threads
        self.timer = timeit.Timer(step, timer=time.process_time if cpu_clock(settings) else timeit.default_timer)
        self.runs = 1
        if runs is None:
            once = self.block()
            block_ms = 1000 * settings.min_run_time / timed_blocks(settings)
            runs = max(1, math.ceil(block_ms / max(once, 1e-6)))
        self.runs = runs

    def block(self) -> float:
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(self.runs):
                self.step()
            end.record()
            torch.cuda.synchronize(self.device)
            return start.elapsed_time(end) / self.runs
        with torch_threads(self.threads):
            return 1000 * self.timer.timeit(self.runs) / self.runs


@contextmanager
def torch_threads(threads: int | None):
    """torch's intra-op threads set to `threads` inside the block (None: unchanged)."""
    previous = torch.get_num_threads()
    if threads and threads != previous:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def timed_blocks(settings) -> int:
    """How many blocks one cell is timed in: `repeats` in each of its `passes`."""
    return max(settings.repeats, 1) * max(settings.passes, 1)


@contextmanager
def timing_process(threads: int | None, cpu: bool):
    """This process set up to time steps: torch on `threads` threads (None: as it is) and, on a CPU,
    glibc's malloc held steady (`steady_cpu_allocator`). The bench command and each pass's own process
    (passes.py) run inside it."""
    if threads:
        torch.set_num_threads(threads)
    with steady_cpu_allocator() if cpu else nullcontext():
        yield


def layout_padding(seed: int) -> torch.Tensor:
    """A tensor of a random size (0 to 1 MiB, from `seed`) to hold while a pass builds its layers, so that
    each pass's layers and inputs land at other heap offsets. Layout alone moves a step's time (cache sets,
    alignment: Mytkowicz et al., "Producing wrong data without doing anything obviously wrong", ASPLOS
    2009); with `steady_cpu_allocator` every pass would otherwise reuse the same addresses, and a layout's
    luck would be shared by a whole run instead of varying between its passes."""
    return torch.empty(random.Random(seed).randrange(1 << 18), dtype=torch.float32)


@contextmanager
def steady_cpu_allocator():
    """Inside the block, glibc's malloc keeps what a step frees (no mmap, no trim: `mallopt`), so each
    timed CPU step reuses heap pages, as the CUDA caching allocator does on a GPU. Without it every
    large tensor of a step is a fresh mmap, and its page faults (whose cost follows the host's memory
    reclaim) are a varying share of the step: on this machine combiner 512 train's ratio to softmax
    drifted from 1.37 to 1.13 over a minute on one layer instance (sd 0.135 over six medians of 12
    pairs), sd 0.026 with it. On exit both settings go back to glibc's default values (its sliding mmap
    threshold stays off, as after any `mallopt`); a no-op without glibc."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        yield False
        return
    trim_threshold, mmap_max = -1, -4  # glibc's M_TRIM_THRESHOLD and M_MMAP_MAX
    applied = bool(mallopt(mmap_max, 0)) and bool(mallopt(trim_threshold, 2**31 - 1))
    try:
        yield applied
    finally:
        mallopt(mmap_max, 65536)  # glibc's DEFAULT_MMAP_MAX
        mallopt(trim_threshold, 128 * 1024)  # glibc's DEFAULT_TRIM_THRESHOLD


def is_out_of_memory(err: BaseException) -> bool:
    """Whether an error is a device or host running out of memory (a finding to record, not a crash)."""
    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(err, RuntimeError) and any(s in str(err).lower() for s in ("out of memory", "not enough memory"))


def time_rounds(reference, variants: dict, rounds: int, seed: int = 0,
                group: int = 2) -> tuple[list[float], dict, list[str]]:
    """Softmax (`reference`) and every variant timed in `rounds` rounds of alternating blocks, `group`
    variants between two reference blocks (R V_a V_b R V_c V_d R ... R), the variants in a fresh random
    order each round (so no variant always follows the same one): returns the reference's block times,
    per variant its (block times, ratios), a ratio being V / mean(R before, R after its group), and the
    variants that ran out of memory (dropped from later rounds; the others go on). The reference running
    out of memory raises. Why groups of two: with one variant per pair of reference blocks (group=1)
    softmax took 20 of every 39 blocks of the default grid's 19 variants; with two, 11 of 30, and the
    time saved buys more pairs (what a cell's reproducibility rests on), while a group still spans only
    four blocks of drift."""
    order, shuffle = list(variants), random.Random(seed).shuffle
    reference_times, measured, failed = [], {name: ([], []) for name in variants}, []
    for _ in range(rounds):
        shuffle(order)
        before = reference.block()
        reference_times.append(before)
        running, size = [n for n in order if n not in failed], max(group, 1)
        for start in range(0, len(running), size):
            group_times = {}
            for name in running[start:start + size]:
                try:
                    group_times[name] = variants[name].block()
                except Exception as err:
                    if not is_out_of_memory(err):
                        raise
                    failed.append(name)
            if not group_times:
                continue  # every variant of the group ran out of memory: nothing to pair a block with
            after = reference.block()
            reference_times.append(after)
            for name, time in group_times.items():
                measured[name][0].append(time)
                measured[name][1].append(time / ((before + after) / 2))
            before = after
    return reference_times, measured, failed


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


def ratio_summary(ratios: list[float], passes: list[int] | None = None) -> dict:
    """The time ratio to softmax from per-pair ratios: their median, an interval for that median
    (`median_interval`), their quartiles and IQR. `ratio_unstable` when the IQR is over 10% of the
    median, or when the run does not agree with itself: given each ratio's pass (`passes`) and two
    passes or more, the medians of the first and the second half of the passes (minutes apart, other
    layer instances) differ by more than sqrt(2) x the IQR. Two whole runs must agree within the IQR
    (`bench --compare`); a half rests on half the pairs, so its median varies sqrt(2) times as much."""
    q1, median, q3 = quartiles(ratios)
    summary = {"time_vs_softmax": median, "time_vs_softmax_range": median_interval(ratios),
               "ratio_q1": q1, "ratio_q3": q3, "ratio_iqr": q3 - q1, "ratio_pairs": len(ratios),
               "ratio_unstable": (q3 - q1) > UNSTABLE_SPREAD * median}
    if passes and len(set(passes)) >= 2:
        middle = (min(passes) + max(passes) + 1) / 2
        first = [r for r, p in zip(ratios, passes) if p < middle]
        second = [r for r, p in zip(ratios, passes) if p >= middle]
        halves = [float(np.median(first)), float(np.median(second))]
        summary.update(ratio_halves=halves, ratio_drift=abs(halves[0] - halves[1]) > math.sqrt(2) * (q3 - q1))
        summary["ratio_unstable"] |= summary["ratio_drift"]
    return summary


def ratio_text(ratio: float, iqr: float | None = None, unstable: bool = False,
               interval: list[float] | None = None) -> str:
    """A ratio to softmax as the bench prints it: `0.52x IQR 0.03 unstable` for a paired ratio (the IQR of
    its per-pair ratios: `bench --compare` has two runs agree when their ratios differ by no more than
    their two IQRs pooled), `0.52x [0.45-0.60]` for a ratio of cells timed apart (the range their
    quartiles allow)."""
    text = f"{ratio:.2f}x"
    if iqr is not None:
        text += f" IQR {iqr:.2f}"
    if interval:
        text += f" [{interval[0]:.2f}-{interval[1]:.2f}]"
    return text + (" unstable" if unstable else "")
