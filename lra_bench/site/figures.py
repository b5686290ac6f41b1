"""The figures page's charts, from the records: accuracy against speed with memory as marker area,
speed and memory of one layer against length (the newest bench record), learning curves per task."""

from __future__ import annotations

import statistics

from ..leaderboard import Row
from ..results import BenchRecord, RunRecord, latest_bench_record
from . import charts
from .pages import mib, val_accuracy_points


def finished_runs(run_ids, by_id: dict[str, RunRecord]) -> list[RunRecord]:
    """A cell's runs that ended `ok`, in its run-id order: what the report's figures rest on too."""
    return [by_id[i] for i in run_ids if i in by_id and by_id[i].status == "ok"]


def accuracy_vs_speed(runs: list[RunRecord], rows: list[Row]) -> str:
    """One point per shown cell with a number: x train examples/s (median over its seeds that finished, as
    the report's speed column), y accuracy, area peak memory; a series per task."""
    by_id = {r.run_id: r for r in runs}
    series: dict[str, charts.Series] = {}
    for row in rows:
        for cell in row.cells.values():
            if cell.mean is None or not cell.run_ids:
                continue
            done = finished_runs(cell.run_ids, by_id)
            speeds = [r.throughput.get("train_examples_per_s") for r in done]
            speeds = [s for s in speeds if isinstance(s, (int, float)) and s > 0]
            memory = [r.throughput.get("peak_memory_bytes") for r in done]
            memory = [m for m in memory if isinstance(m, (int, float))]
            if not speeds:
                continue
            speed, peak = statistics.median(speeds), max(memory) if memory else None
            series.setdefault(cell.task, charts.Series(cell.task)).points.append(charts.Point(
                speed, cell.mean, f"{row.model} on {cell.task}: {cell.text}; {speed:,.0f} examples/s"
                + (f"; {mib(peak)}" if peak else "") + (" (stuck at chance)" if cell.stuck_at_chance else ""),
                peak / 2**20 if peak else None))
    return charts.scatter_chart(list(series.values()), "Accuracy against training speed, marker area = peak memory",
                                "train examples/s (log scale)", "test accuracy (%)", "peak MiB", log_x=True)


def scaling(bench: list[BenchRecord], key: str, label: str, scale: float = 1.0) -> tuple[str, str]:
    """Speed or memory against length from the newest layer bench record (train mode, non-causal rows)."""
    latest = latest_bench_record(bench, modes=("train",))
    if latest is None:
        return "", ""
    series: dict[str, charts.Series] = {}
    for row in latest.rows:
        value = row.get(key)
        if (row.get("mode") != "train" or row.get("form", "non-causal") != "non-causal" or row.get("status") != "ok"
                or not isinstance(value, (int, float)) or value <= 0):
            continue
        series.setdefault(row["attention"], charts.Series(row["attention"])).points.append(charts.Point(
            row["length"], value * scale, f"{row['attention']} at {row['length']} tokens: {value * scale:,.2f} {label}"))
    chart = charts.line_chart(list(series.values()), f"One attention layer, train step: {label} against length",
                              "sequence length (log scale)", f"{label} (log scale)", log_x=True, log_y=True)
    return chart, f"{latest.run_id} ({latest.device})"


def curves_by_task(runs: list[RunRecord], rows: list[Row]) -> dict[str, str]:
    """Per task, validation accuracy against step of each shown cell's first seed that finished (as the
    report's learning curves)."""
    by_id = {r.run_id: r for r in runs}
    per_task: dict[str, list[charts.Series]] = {}
    for row in rows:
        for cell in row.cells.values():
            record = next(iter(finished_runs(cell.run_ids, by_id)), None)
            if record is None or not record.history:
                continue
            points = val_accuracy_points(record, f"{row.model}, ")
            per_task.setdefault(cell.task, []).append(charts.Series(row.model, points))
    return {task: charts.line_chart(series, f"Validation accuracy during training on {task}", "step",
                                    "val accuracy (%)") for task, series in sorted(per_task.items())}
