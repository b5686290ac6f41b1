"""The benchmark: ratios to softmax from the same run, OOM recorded as such, and memory that grows
linearly with length for the linear variants (peak allocated bytes at two lengths, never time)."""

import statistics

import pytest
import torch

from lra_bench.bench import layer, passes
from lra_bench.bench.layer import BenchSettings, add_ratios, measure
from lra_bench.bench.passes import run_bench
from lra_bench.bench.model_step import measure_model_step
from lra_bench.device import cpu_peak_bytes

SMALL = BenchSettings(lengths=(128, 256), batch=1, dim=64, num_heads=2, repeats=1, passes=1)


def test_rows_carry_ratios_to_softmax_measured_in_the_same_run(tmp_path):
    rows = run_bench(["softmax", "linear"], SMALL, str(tmp_path), progress=lambda *_: None)
    assert len(rows) == 2 * 2 * 2
    softmax = [r for r in rows if r["attention"] == "softmax"]
    assert all(r["time_vs_softmax"] == pytest.approx(1.0) and r["memory_vs_softmax"] == pytest.approx(1.0)
               for r in softmax)
    linear = next(r for r in rows if r["attention"] == "linear" and r["length"] == 256 and r["mode"] == "train")
    low, high = linear["time_vs_softmax_range"]
    assert linear["ratio_pairs"] == SMALL.repeats * SMALL.passes and low <= linear["time_vs_softmax"] <= high
    assert linear["ratio_iqr"] == pytest.approx(linear["ratio_q3"] - linear["ratio_q1"])
    (record,) = list(tmp_path.glob("bench__*.json"))
    assert '"kind": "bench"' in record.read_text() and '"ratio_iqr"' in record.read_text()


class DriftingLoad:
    """A fake machine whose load doubles after `switch_after` blocks: every block takes its step's
    cost times the load at the time."""

    def __init__(self, switch_after: int):
        self.blocks, self.switch_after = 0, switch_after

    def timer(self, cost_ms: float):
        machine = self

        class Blocks:
            def block(self):
                machine.blocks += 1
                return cost_ms * (1 if machine.blocks <= machine.switch_after else 2)

        return Blocks()


def test_an_interleaved_ratio_survives_load_that_doubles_halfway_where_a_sequential_one_does_not():
    from lra_bench.bench.timing import ratio_summary, time_interleaved

    pairs = 5  # 11 blocks: S V S V S V S V S V S; the load doubles after the 6th
    machine = DriftingLoad(switch_after=pairs + 1)
    softmax, variant = machine.timer(10.0), machine.timer(5.0)  # the true ratio is 0.5
    _, ratios = time_interleaved(softmax, variant, pairs)
    paired = ratio_summary(ratios)
    assert paired["time_vs_softmax"] == pytest.approx(0.5) and not paired["ratio_unstable"]
    assert sum(r != pytest.approx(0.5) for r in ratios) == 1  # only the pair the change falls in
    machine = DriftingLoad(switch_after=pairs + 1)  # softmax's cell first, then the variant's
    softmax, variant = machine.timer(10.0), machine.timer(5.0)
    first, second = [softmax.block() for _ in range(pairs + 1)], [variant.block() for _ in range(pairs)]
    assert statistics.median(second) / statistics.median(first) == pytest.approx(1.0)  # twice the truth


def test_a_ratio_with_a_large_per_pair_spread_is_marked_unstable():
    from lra_bench.bench.layer import format_table
    from lra_bench.bench.timing import ratio_summary, time_interleaved

    class Alternating:  # the variant's blocks alternate 5 and 8 ms against a steady 10 ms softmax
        def __init__(self, costs):
            self.costs = iter(costs)

        def block(self):
            return next(self.costs)

    _, ratios = time_interleaved(Alternating([10.0] * 6), Alternating([5.0, 8.0] * 3), 5)
    spread = ratio_summary(ratios)
    assert spread["ratio_iqr"] == pytest.approx(0.3) and spread["ratio_unstable"]
    _, ratios = time_interleaved(Alternating([10.0] * 6), Alternating([5.0, 5.2] * 3), 5)
    assert not ratio_summary(ratios)["ratio_unstable"]  # 4% spread
    row = {"attention": "linear", "length": 64, "mode": "train", "status": "ok", "peak_bytes": 10,
           "ms": 5.0, "ms_q1": 5.0, "ms_q3": 5.0, "iqr_ms": 0.0, "unstable": False, **spread}
    reference = {**row, "attention": "softmax", "ms": 10.0, "ms_q1": 10.0, "ms_q3": 10.0}
    reference = {k: v for k, v in reference.items() if not k.startswith(("ratio", "time_vs"))}
    assert "(0.50x IQR 0.30 unstable)" in format_table(add_ratios([reference, row]), modes=("train",))


def test_the_interval_of_a_median_is_distribution_free():
    from lra_bench.bench.timing import median_interval

    assert median_interval([3.0, 1.0, 5.0, 2.0, 4.0]) == [1.0, 5.0]  # 5 values: their range (94%)
    assert median_interval([float(v) for v in range(1, 10)]) == [2.0, 8.0]  # 9 values: 96%
    assert median_interval([7.0]) == [7.0, 7.0]


@pytest.mark.parametrize("name", ["linear", "cosformer", "lln", "latte", "elementwise", "performer"])
def test_linear_variants_use_memory_linear_in_length(name):
    """Doubling the length at most doubles peak allocated bytes (+10%). (SDPA softmax is linear in
    memory on a CPU too: it runs a flash kernel; its cost is time, not memory.)"""
    settings = BenchSettings(lengths=(), batch=1, dim=64, num_heads=2, repeats=1, warmup=0)
    short, long = (measure(name, n, "train", settings)["peak_bytes"] for n in (1024, 2048))
    assert short > 0 and long <= 2.2 * short, (short, long)


def test_memory_instrument_sees_quadratic_growth():
    """The same instrument on an explicit N x N attention: 4x the bytes for 2x the length."""
    def explicit(n):
        q = torch.randn(1, 2, n, 32, requires_grad=True)
        return lambda: (torch.softmax(q @ q.transpose(-1, -2), -1) @ q).sum().backward()

    short, long = cpu_peak_bytes(explicit(512)), cpu_peak_bytes(explicit(1024))
    assert 3.5 * short < long < 4.5 * short, (short, long)


def test_out_of_memory_is_recorded_not_raised(monkeypatch):
    def boom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64 GiB")

    monkeypatch.setattr(layer, "build_layer", boom)
    row = measure("softmax", 1 << 20, "train", SMALL)
    assert row["status"] == "OOM" and row["ms"] is None
    rows = add_ratios([row, {"attention": "linear", "length": 1 << 20, "mode": "train", "status": "ok", "ms": 1.0,
                             "peak_bytes": 10}])
    assert rows[1]["time_vs_softmax"] is None  # no reference: no invented ratio


def test_bench_command_prints_a_ratio_table(capsys, tmp_path):
    from lra_bench.cli import main

    assert main(["bench", "--attentions", "linear", "--lengths", "64,128", "--repeats", "1", "--batch", "1",
                 "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "### train: time (vs softmax)" in out and "| linear" in out and "(1.00x)" in out
    assert main(["bench", "--attentions", "nope"]) == 2


def test_model_step_bench_reports_speed_ratio_and_data_share(capsys, tmp_path):
    from lra_bench.cli import main

    assert main(["bench", "--model", "listops", "--attentions", "linear", "--batch", "2", "--steps", "1",
                 "--length", "64", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "### whole training step" in out and "(1.00x), data" in out and "| linear" in out
    import re
    assert re.search(r"\| linear +\| [0-9.]+/s \([0-9.]+x IQR [0-9.]+( unstable)?\), data", out), out
    (record,) = tmp_path.glob("bench__*.json")
    assert '"speed_range"' in record.read_text() and '"ratio_iqr"' in record.read_text()
    row = measure_model_step("retrieval", "linear", steps=1, warmup=1, batch=2, length=32, device="cpu")
    assert row["status"] == "ok" and row["steps_per_s"] > 0 and 0 <= row["data_wait_share"] < 1


def test_cells_keep_median_and_iqr_and_flag_unstable_ones(monkeypatch):
    from lra_bench.bench.timing import BlockTimer, time_summary

    row = measure("linear", 64, "train", SMALL)
    assert row["ms_q1"] <= row["ms"] <= row["ms_q3"] and row["iqr_ms"] == pytest.approx(row["ms_q3"] - row["ms_q1"])
    assert row["timings"] >= SMALL.repeats and row["unstable"] == (row["iqr_ms"] > 0.1 * row["ms"])
    durations = iter([0.06, 0.2] * 50)  # one run per block (each > the 0.17 ms a block needs), quartiles far apart

    def uneven():
        import time
        time.sleep(next(durations))

    timer = BlockTimer(uneven, torch.device("cpu"), BenchSettings(repeats=6, min_run_time=0.012))
    uneven_row = time_summary([timer.block() for _ in range(6)])
    assert timer.runs == 1 and uneven_row["unstable"] and uneven_row["iqr_ms"] > 50, uneven_row


def test_bench_prints_progress_and_record_path_and_no_profiler_lines(tmp_path):
    import os
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "lra_bench.cli", "bench", "--attentions", "linear", "--lengths", "64",
                          "--batch", "1", "--repeats", "2", "--passes", "2", "--min-time", "0.01", "--store", str(tmp_path)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "WANDB_MODE": "disabled"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert "profiler" not in run.stderr and run.stderr.strip() == "", run.stderr[-500:]
    assert "  1/4 softmax" in run.stdout and "  4/4 linear" in run.stdout and "1 CPU thread" in run.stdout
    (record,) = tmp_path.glob("bench__*.json")
    assert f"record: {record}" in run.stdout
    import re
    assert re.search(r"\| linear +\| [0-9.]+ ±[0-9.]+ ms \([0-9.]+x IQR [0-9.]+( unstable)?\)", run.stdout), run.stdout
    assert "pass 2/2 4/4 L=64" in run.stdout and "a process per pass" in run.stdout  # the CPU default: each
    # pass in a fresh process, whose lines reach the same stdout, in order
    lines = ["bench on cpu", "pass 1/2 1/4 L=64", "pass 1/2 2/4 L=64", "pass 2/2 3/4 L=64", "pass 2/2 4/4 L=64",
             "| linear", "record: "]
    at = [run.stdout.find(line) for line in lines]
    assert -1 not in at and at == sorted(at), dict(zip(lines, at))


def test_a_pass_whose_process_dies_fails_the_run_instead_of_hanging():
    import multiprocessing
    import os
    import signal
    import threading
    import time
    from concurrent.futures.process import BrokenProcessPool

    done = threading.Event()

    def kill_the_pass():
        while not done.is_set() and not multiprocessing.active_children():
            time.sleep(0.05)
        if not done.wait(0.5):
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)

    settings = BenchSettings(lengths=(64,), batch=1, dim=32, num_heads=2, repeats=10_000, passes=1, min_run_time=600,
                             process_per_pass=True, seed=0)  # a pass of hours, unless killed
    threading.Thread(target=kill_the_pass, daemon=True).start()
    started = time.time()
    try:
        with pytest.raises(BrokenProcessPool):
            run_bench(["softmax", "linear"], settings, None, progress=lambda *_: None)
    finally:
        done.set()  # the killer stops, whatever happened
    assert time.time() - started < 120


def test_more_than_one_thread_is_timed_on_the_wall_clock():
    import timeit

    from lra_bench.bench.timing import BlockTimer, clock_name, cpu_clock

    one, three = BenchSettings(threads=1), BenchSettings(threads=3)
    assert cpu_clock(one) and not cpu_clock(three)  # process CPU time would add the threads' time up
    assert clock_name(one) == "process CPU time" and clock_name(three) == "wall time"
    threads, before = [], torch.get_num_threads()
    timer = BlockTimer(lambda: threads.append(torch.get_num_threads()), torch.device("cpu"), three, runs=1)
    timer.block()
    assert timer.timer.timer is timeit.default_timer and threads == [3] and torch.get_num_threads() == before


def test_a_ratio_is_unstable_when_softmax_is():
    from lra_bench.bench.layer import format_table

    def row(name, ms, unstable):
        return {"attention": name, "length": 64, "mode": "train", "status": "ok", "ms": ms, "ms_q1": 0.9 * ms,
                "ms_q3": 1.1 * ms if unstable else 1.01 * ms, "iqr_ms": (0.2 if unstable else 0.11) * ms,
                "unstable": unstable, "peak_bytes": 10}

    rows = add_ratios([row("softmax", 10.0, True), row("linear", 5.0, False)])
    assert rows[1]["ratio_unstable"] and not rows[1]["unstable"]
    assert "(0.50x [0.41-0.56]) unstable" in format_table(rows, modes=("train",))


def test_model_step_bench_compiles_only_when_asked(monkeypatch):
    """`bench --model --no-compile` keeps every variant eager on CUDA too (a GPU slot cannot pay a
    compilation per variant); `--compile` compiles even on a CPU."""
    import lra_bench.train as train

    calls = []
    monkeypatch.setattr(train, "compile_fresh", lambda module, **kw: calls.append(kw) or module)
    for compile in (False, True):
        row = measure_model_step("listops", "linear", steps=1, warmup=0, batch=2, length=16, device="cpu",
                                 compile=compile)
        assert row["status"] == "ok"
    assert len(calls) == 1


def test_rounds_pair_every_variant_with_the_softmax_blocks_around_its_group_in_a_fresh_order():
    from lra_bench.bench.timing import time_rounds

    clock, log = iter(range(1, 100)), []

    class Blocks:  # each block returns the next tick, so a ratio names its neighbours exactly
        def __init__(self, name):
            self.name = name

        def block(self):
            log.append((self.name, float(next(clock))))
            return log[-1][1]

    reference_times, measured, failed = time_rounds(Blocks("S"), {"a": Blocks("a"), "b": Blocks("b"),
                                                                  "c": Blocks("c")}, rounds=4, seed=1)
    assert failed == []
    names = [name for name, _ in log]
    assert len(log) == 4 * 6 and len(reference_times) == 12  # per round: S x y S z S (two variants a group)
    assert all([names[6 * k + i] for i in (0, 3, 5)] == ["S"] * 3 for k in range(4))
    rounds = [tuple(names[6 * k + i] for i in (1, 2, 4)) for k in range(4)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds) and len(set(rounds)) > 1  # the order changes
    expected = {name: [] for name in "abc"}
    for k in range(4):
        ticks = [tick for _, tick in log[6 * k:6 * k + 6]]
        for i, (before, after) in ((1, (0, 3)), (2, (0, 3)), (4, (3, 5))):
            expected[names[6 * k + i]].append(ticks[i] / ((ticks[before] + ticks[after]) / 2))
    for name, (times, ratios) in measured.items():
        assert len(times) == 4 and ratios == pytest.approx(expected[name])
    log.clear()
    time_rounds(Blocks("S"), {"a": Blocks("a"), "b": Blocks("b")}, rounds=1, group=1)
    assert [name for name, _ in log][::2] == ["S"] * 3  # group=1: S a S b S


def test_rounds_drop_a_variant_that_runs_out_of_memory_and_keep_its_group_partner():
    from lra_bench.bench.timing import time_rounds

    class Blocks:
        def __init__(self, ms, fail=False):
            self.ms, self.fail, self.calls = ms, fail, 0

        def block(self):
            self.calls += 1
            if self.fail:
                raise torch.OutOfMemoryError("CUDA out of memory")
            return self.ms

    for seed in (0, 1, 4, 5, 6, 7):  # each a first round's order of a, x, y, all six: a group of two failures, a
        # failure before a in its group, after it
        x, y = Blocks(1.0, fail=True), Blocks(1.0, fail=True)
        reference_times, measured, failed = time_rounds(Blocks(2.0), {"a": Blocks(1.0), "x": x, "y": y}, rounds=3,
                                                        group=2, seed=seed)
        assert sorted(failed) == ["x", "y"] and x.calls == y.calls == 1  # dropped from later rounds
        assert measured["a"][1] == [0.5, 0.5, 0.5] and measured["x"] == measured["y"] == ([], [])
        assert len(reference_times) == 3 * 2  # R [a with or without a failure] R; a failed group takes no R


def test_each_pass_builds_fresh_layers_and_profiles_memory_once(monkeypatch):
    builds, profiles = [], []
    real_build, real_peak = layer.build_layer, layer.step_peak_bytes
    monkeypatch.setattr(layer, "build_layer", lambda name, *a, **k: builds.append(name) or real_build(name, *a, **k))
    monkeypatch.setattr(layer, "step_peak_bytes", lambda *a: profiles.append(1) or real_peak(*a))
    settings = BenchSettings(lengths=(64,), batch=1, dim=32, num_heads=2, repeats=2, passes=3, min_run_time=0.01)
    rows = run_bench(["softmax", "linear", "cosformer"], settings, None, progress=lambda *_: None)
    assert len(builds) == 3 * 2 * 3 and len(profiles) == 3 * 2  # passes x modes x layers; memory once per cell
    linear = next(r for r in rows if r["attention"] == "linear" and r["mode"] == "train")
    assert linear["ratio_pairs"] == 6 and linear["timings"] == 6 and linear["passes"] == 3
    softmax = next(r for r in rows if r["attention"] == "softmax" and r["mode"] == "train")
    assert softmax["timings"] == 3 * 2 * (1 + 1)  # per pass and round: S linear cosformer S (one group of two)


def test_steady_cpu_allocator_keeps_large_tensors_off_mmap_and_gives_the_setting_back():
    import ctypes
    import platform

    from lra_bench.bench.timing import steady_cpu_allocator

    if not (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"):
        with steady_cpu_allocator() as applied:
            assert not applied
        return

    class MallInfo2(ctypes.Structure):  # glibc's struct mallinfo2: hblkhd = bytes in mmap'd blocks
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                         "fsmblks", "uordblks", "fordblks", "keepcost")]

    mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    mallinfo2.restype = MallInfo2

    def mmapped_growth(floats):  # bytes of mmap'd blocks while a tensor of `floats` is alive (never touched)
        before = mallinfo2().hblkhd
        tensor = torch.empty(floats)
        grown = mallinfo2().hblkhd - before
        del tensor
        return grown

    with steady_cpu_allocator() as applied:
        inside = mmapped_growth(1 << 27)  # 512 MiB: from the heap, and kept there when freed
    assert applied and inside == 0
    assert mmapped_growth(1 << 28) >= 1 << 30  # 1 GiB, more than the heap keeps: glibc's mmap is back


def _bench_record(cells):
    from lra_bench.results import BenchRecord

    rows = [{"attention": name, "length": 64, "mode": "train", "status": "ok", "ms": 1.0, "peak_bytes": 1,
             "time_vs_softmax": ratio, "ratio_iqr": iqr, "ratio_unstable": unstable, "ratio_pairs": 12}
            for name, (ratio, iqr, unstable) in cells.items()]
    return BenchRecord(run_id="bench__x", device="cpu", finished_at="2026-11-30T00:00:00", settings={}, rows=rows,
                       version=2)


def test_two_runs_agree_when_ratios_differ_by_no_more_than_their_pooled_iqr():
    from lra_bench.bench.compare import compare_cells

    from lra_bench.bench.compare import format_comparison

    first = _bench_record({"a": (0.50, 0.04, False), "b": (0.50, 0.02, False), "c": (0.50, 0.02, True),
                           "d": (1.00, 0.05, False), "f": (0.50, 0.01, False), "g": (0.50, 0.01, False)})
    second = _bench_record({"a": (0.53, 0.05, False), "b": (0.53, 0.05, False), "c": (0.60, 0.02, False),
                            "e": (1.0, 0.1, False), "f": (0.56, 0.07, False), "g": (0.545, 0.07, False)})
    compared = compare_cells(first, second)
    verdicts = {c["attention"]: c["verdict"] for c in compared}
    # b: 0.03 apart, over the smaller IQR, within the pooled sqrt((0.02^2 + 0.05^2) / 2) = 0.038;
    # f: 0.06 apart, within the larger IQR (0.07), over the pooled 0.050; g: 0.045 apart, within the pooled
    # 0.050, over the IQRs' plain mean 0.040; d, e: in one run only
    assert verdicts == {"a": "agree", "b": "agree", "c": "unstable", "f": "DISAGREE", "g": "agree"}
    text = format_comparison(compared, first, second)
    assert "5 cells: 3 agree within their pooled IQR, 1 differ and are marked unstable, 1 differ unmarked" in text
    assert "within the smaller of the two IQRs 1 agree, within the larger 4" in text  # a; a b f g
    assert "X (0.060 > 0.050)" in text


def test_bench_compare_reads_two_records_or_the_store(tmp_path, capsys):
    from lra_bench.cli import main

    args = ["bench", "--attentions", "linear", "--lengths", "64", "--batch", "1", "--repeats", "2", "--passes", "2",
            "--min-time", "0.01", "--store", str(tmp_path)]
    assert main(["bench", "--compare", "--store", str(tmp_path)]) == 2  # nothing to compare: one line, exit 2
    assert main(args) == 0 and main(args) == 0
    capsys.readouterr()
    assert main(["bench", "--compare", "--store", str(tmp_path)]) in (0, 1)  # 1: a cell disagreed (timing)
    out = capsys.readouterr().out
    assert "2 cells: " in out and "### train: time vs softmax, run 1 | run 2" in out and "| linear" in out
    one, two = sorted(tmp_path.glob("bench__*.json"))
    assert main(["bench", "--compare", str(one), str(two)]) in (0, 1) and "2 cells: " in capsys.readouterr().out
    assert main(["bench", "--compare", str(one)]) == 2


def test_bench_compare_exits_1_on_an_unmarked_disagreement(tmp_path, capsys):
    import json

    from lra_bench.cli import main

    paths = []
    for k, ratio in enumerate((0.50, 0.60)):
        record = _bench_record({"linear": (ratio, 0.02, False)})
        record.run_id = f"bench__x__{k}"
        paths.append(tmp_path / f"{record.run_id}.json")
        paths[-1].write_text(json.dumps(record.to_json()))
    assert main(["bench", "--compare", *map(str, paths)]) == 1
    assert "1 cells: 0 agree" in capsys.readouterr().out
    assert main(["bench", "--compare", str(paths[0]), str(paths[0])]) == 0


def test_a_layer_out_of_memory_in_a_later_pass_marks_only_its_cell(monkeypatch):
    real_prepare, calls = passes.prepare_step, {}

    def prepare(name, length, mode, settings, build=None, profile=True):
        row, step = real_prepare(name, length, mode, settings, build, profile)
        calls[(name, mode)] = calls.get((name, mode), 0) + 1
        if (name, mode) in failing and calls[(name, mode)] == 2:  # the second pass: the step runs out of memory

            def step():
                raise torch.OutOfMemoryError("CUDA out of memory")
        return row, step

    monkeypatch.setattr(passes, "prepare_step", prepare)
    settings = BenchSettings(lengths=(64,), batch=1, dim=32, num_heads=2, repeats=2, passes=3, min_run_time=0.01)
    failing = {("cosformer", "train")}
    rows = {(r["attention"], r["mode"]): r for r in run_bench(["softmax", "linear", "cosformer"], settings, None,
                                                               progress=lambda *_: None)}
    assert rows[("cosformer", "train")]["status"] == "OOM" and rows[("cosformer", "infer")]["status"] == "ok"
    assert rows[("linear", "train")]["status"] == "ok" and rows[("linear", "train")]["ratio_pairs"] == 6
    calls.clear()
    failing = {("softmax", "train")}  # softmax itself: its section keeps no ratio, the variants their times
    rows = {(r["attention"], r["mode"]): r for r in run_bench(["softmax", "linear"], settings, None,
                                                               progress=lambda *_: None)}
    assert rows[("softmax", "train")]["status"] == "OOM" and rows[("linear", "train")]["status"] == "ok"
    assert rows[("linear", "train")]["time_vs_softmax"] is None and rows[("linear", "infer")]["ratio_pairs"] == 6


def test_a_run_that_disagrees_with_itself_is_marked_unstable():
    """Split-half: the medians of the first and second half of the passes must agree within the IQR."""
    from lra_bench.bench.timing import ratio_summary

    four_passes = [p for p in range(4) for _ in range(3)]  # 3 pairs per pass
    steady = ratio_summary([1.0, 1.02] * 6, passes=four_passes)
    assert steady["ratio_halves"] == [1.01, 1.01] and not steady["ratio_drift"] and not steady["ratio_unstable"]
    drifting = ratio_summary([1.0] * 9 + [1.3] * 3, passes=four_passes)  # the last pass drifts
    assert drifting["ratio_halves"] == [1.0, 1.15] and drifting["ratio_iqr"] < 0.1  # a narrow IQR: not the 10% rule
    assert 0.15 > 2**0.5 * drifting["ratio_iqr"]  # the halves differ by more than sqrt(2) x the IQR
    assert drifting["ratio_drift"] and drifting["ratio_unstable"]
    assert "ratio_drift" not in ratio_summary([1.0] * 9 + [1.3] * 3)  # no passes given: no halves to compare
    odd = ratio_summary([1.0, 1.0, 1.0, 1.0, 2.0, 2.0], passes=[0, 0, 1, 1, 2, 2])  # halves: passes 0-1 | 2
    assert odd["ratio_halves"] == [1.0, 2.0]
    uneven = ratio_summary([1.0, 1.0, 1.0, 2.0], passes=[0, 0, 0, 1])  # a pass cut short (an OOM)
    assert uneven["ratio_halves"] == [1.0, 2.0]


def test_bench_compare_picks_the_two_newest_layer_records_past_a_model_record(tmp_path, capsys):
    import json

    from lra_bench.cli import main

    for k, (ratio, seed) in enumerate(((0.50, 1), (0.51, 2))):  # two layer runs: other seeds, same settings
        record = _bench_record({"linear": (ratio, 0.02, False)})
        record.run_id, record.finished_at, record.settings = f"bench__a__{k}", f"2026-11-30T00:00:0{k}", {"seed": seed}
        (tmp_path / f"{record.run_id}.json").write_text(json.dumps(record.to_json()))
    model = _bench_record({})  # a newer `bench --model` record: paired speed ratios, mode "model"
    model.rows = [{"attention": "linear", "task": "listops", "length": 64, "mode": "model", "status": "ok",
                   "speed_vs_softmax": 2.0, "ratio_iqr": 0.1, "ratio_pairs": 5, "ratio_unstable": False}]
    model.run_id, model.finished_at = "bench__m__0", "2026-11-30T00:00:09"
    (tmp_path / "bench__m__0.json").write_text(json.dumps(model.to_json()))
    assert main(["bench", "--compare", "--store", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "run 1: bench__a__0" in out and "run 2: bench__a__1" in out and "1 cells: 1 agree" in out


def test_a_cpu_device_label_counts_its_threads_in_words(monkeypatch):
    from lra_bench.device import describe_device

    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert describe_device("cpu").endswith(", 1 thread)")  # the plots' titles and every record's device
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert describe_device("cpu").endswith(", 2 threads)")
