"""The layer bench's passes (`lra-bench bench`, issue 19): a run is `settings.passes` passes over the
whole grid of lengths and modes; each pass times every section afresh (new layers and inputs at other
heap offsets, on a CPU in a new process), softmax and the variants in rounds of alternating blocks
(`timing.time_rounds`). What one layer instance, one process and one stretch of the run fix for
their whole life then varies between passes, so it shows in a cell's spread instead of between runs.
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch

from .layer import (BenchSettings, add_ratios, out_of_memory_as_status, prepare_step, progress_line,
                    write_bench_record)
from .timing import (BlockTimer, layout_padding, ratio_summary, time_rounds, timing_process,
                     time_summary)


def run_bench(names: list[str], settings: BenchSettings, store_dir: str | None, progress=print) -> list[dict]:
    """Every variant at every length and mode against softmax: `settings.passes` passes over the whole
    grid, each timing every (length, mode) section afresh (`time_section`), so a cell's per-pair ratios
    come from as many layer instances, heap layouts and stretches of the run as there are passes. Peak
    memory is measured once, in the first pass. Returns one row per cell, softmax first in each
    section; `store_dir` also gets the record (with the seed drawn, when `settings.seed` is None)."""
    settings = with_seed(settings)
    cells = {(length, mode, name): {"row": None, "times": [], "ratios": [], "passes": []}
             for length in settings.lengths for mode in ("train", "infer") for name in names}
    passes = max(settings.passes, 1)
    for index in range(passes):
        if settings.process_per_pass:
            cells = run_pass_in_new_process(names, settings, index, cells)
        else:
            cells = run_pass(names, settings, index, cells, progress)
    rows = []
    for (length, mode, name), cell in cells.items():
        row = cell["row"]
        if row["status"] == "ok":
            row.update(time_summary(cell["times"]), passes=passes, block_ms=[round(t, 4) for t in cell["times"]])
            if cell["ratios"] and cells[(length, mode, "softmax")]["row"]["status"] == "ok":
                row.update(ratio_summary(cell["ratios"], cell["passes"]),
                           pair_ratios=[round(r, 4) for r in cell["ratios"]])
        rows.append(row)
    add_ratios(rows)
    for k, row in enumerate(rows, 1):
        progress(progress_line(row, after=f"{row['mode']:5s} ", count=f"{k}/{len(rows)}"))
    if store_dir:
        progress(f"record: {write_bench_record(store_dir, rows, settings)}")
    return rows


def run_pass(names: list[str], settings: BenchSettings, index: int, cells: dict, progress=print) -> dict:
    """Pass `index`: every (length, mode) section timed once more (`time_section`); returns `cells`."""
    sections = [(length, mode) for length in settings.lengths for mode in ("train", "infer")]
    variants, passes = [n for n in names if n != "softmax"], max(settings.passes, 1)
    for k, (length, mode) in enumerate(sections):
        done = index * len(sections) + k + 1
        timed = time_section(length, mode, variants, settings, cells, index, seed=settings.seed + done)
        progress(f"  pass {index + 1}/{passes} {done}/{passes * len(sections)} L={length:<6d} {mode:5s} "
                 f"{timed} of {len(variants) + 1} layers timed")
    return cells


def run_pass_in_new_process(names: list[str], settings: BenchSettings, index: int, cells: dict) -> dict:
    """`run_pass` in a fresh Python process (multiprocessing, spawn), so that what a process fixes for
    its whole life (where ASLR puts the code and the heap, the physical pages behind them) varies
    between passes. Measured here: eight one-pass processes in a row gave medians whose spread (sd
    1-4% of the ratio) was about the IQR of their own pairs, twice what one process's pairs allow, and
    two runs of six in-process passes differed by 2-5% at nearly every cell (their passes flat within
    each run, at 1%). Variants registered only inside the calling process do not exist there: use
    `process_per_pass=False` for those (the tests do). The new process prints its progress lines
    itself, to the same standard output."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_pass_in_this_process, names, settings, index, cells).result()  # a killed one raises


def _pass_in_this_process(names: list[str], settings: BenchSettings, index: int, cells: dict) -> dict:
    with timing_process(settings.threads, cpu=torch.device(settings.device).type == "cpu"):
        return run_pass(names, settings, index, cells, progress=lambda line: print(line, flush=True))


def with_seed(settings: BenchSettings) -> BenchSettings:
    """The settings with a seed drawn for this run when none is set: each run its own heap layouts and
    round orders, so that a layout's luck does not repeat run after run (the record keeps the seed)."""
    return settings if settings.seed is not None else replace(settings, seed=random.SystemRandom().randrange(2**31))


def time_section(length: int, mode: str, variants: list[str], settings: BenchSettings, cells: dict, index: int,
                 seed: int) -> int:
    """Pass `index` over one (length, mode): fresh softmax and variant layers and inputs at other heap
    offsets (`layout_padding`), warmed up, then `settings.repeats` rounds of alternating blocks
    (`time_rounds`); block times and per-pair ratios (with their pass) are appended to `cells`. A cell
    that was OOM or skipped is not built again; one that runs out of memory now is marked OOM and the
    others go on; where softmax has no step, each variant is timed on its own. Returns how many layers
    were timed."""
    device = torch.device(settings.device)
    timers, _padding = {}, layout_padding(seed) if device.type == "cpu" else None
    for name in ("softmax", *variants):
        cell = cells[(length, mode, name)]
        if cell["row"] is not None and cell["row"]["status"] != "ok":
            continue
        row, step = prepare_step(name, length, mode, settings, profile=cell["row"] is None)
        cell["row"] = cell["row"] or row
        if step is not None:
            with out_of_memory_as_status(cell["row"], device):
                timers[name] = BlockTimer(step, device, settings, runs=cell.get("runs"))
                cell["runs"] = timers[name].runs  # every pass times blocks of the first pass's length
        elif row["status"] != "ok":
            cell["row"].update(status=row["status"], ms=None, peak_bytes=None)
    reference = timers.pop("softmax", None)
    rounds = max(settings.repeats, 1)
    softmax = cells[(length, mode, "softmax")]
    if reference is not None:
        with out_of_memory_as_status(softmax["row"], device):
            reference_times, measured, failed = time_rounds(reference, timers, rounds, seed=seed)
            softmax["times"].extend(reference_times)
            for name, (times, ratios) in measured.items():
                cell = cells[(length, mode, name)]
                cell["times"].extend(times)
                cell["ratios"].extend(ratios)
                cell["passes"].extend([index] * len(ratios))
            for name in failed:
                cells[(length, mode, name)]["row"].update(status="OOM", ms=None, peak_bytes=None)
        if softmax["row"]["status"] == "ok":
            return len(timers) + 1
    for name, timer in timers.items():  # no softmax to pair with (OOM): each variant on its own
        with out_of_memory_as_status(cells[(length, mode, name)]["row"], device):
            cells[(length, mode, name)]["times"].extend(timer.block() for _ in range(rounds))
    return len(timers)
