"""The leaderboard: records in the store -> tables (LRA Table 1) and plots (LRA Table 2, Figure 3).

Cells come from aggregate.py (one setup per cell, never mixed configs): a cell shows its latest
setup, marked `†k configs` when there are others, each listed below the table; a paired difference to
softmax on the same seeds sits beside it. Figures are drawn by plots.py.
A cell with no successful run shows the failure (FAIL / OOM / DIVERGED / RUNNING), never a zero
(lessons.md: xformers' collector filled missing runs with zeros). A run whose best validation
accuracy stayed at chance is marked `(chance)`; a run with over 10% more parameters than softmax on
the same task is marked in the params column (the LRA budget rule). "LRA Table 1, row for row" puts
each published row above ours (leaderboard.py: the rows, their Markdown, CSV and LaTeX).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .aggregate import FAILURE_MARK, cell_text, lacks_form, paired_vs_softmax, records_frame, summarise
from .errors import ConfigError
from .leaderboard import (LRA_TASKS, leaderboard_rows, load_reference, published_points, rows_frame,
                          rows_latex, rows_markdown)
from .plots import plot_accuracy_vs_speed, plot_bars, plot_learning_curves, plot_scaling
from .results import DiagnosticsRecord, latest_bench_record, load_records, memory_counter_label

__all__ = ["records_frame", "summarise", "leaderboard", "write_report", "plot_accuracy_vs_speed", "plot_bars",
           "plot_learning_curves", "plot_scaling", "load_reference", "LRA_TASKS"]  # the notebook and tests use them

PARAM_BUDGET = 1.10


def _params(frame: pd.DataFrame) -> pd.Series:
    """Parameter count per attention, marked when over the budget of softmax's on a shared task."""
    params = frame.dropna(subset=["num_parameters"]).groupby(["attention", "task"]).num_parameters.max().unstack()
    marks = {}
    for attention in params.index:
        over = ("softmax" in params.index and
                (params.loc[attention] > PARAM_BUDGET * params.loc["softmax"]).fillna(False).any())
        marks[attention] = f"{int(params.loc[attention].max()):,}" + (" (>10% over softmax)" if over else "")
    return pd.Series(marks, dtype=object)


def leaderboard(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display table of strings, numeric table of means), rows = attention + 'chance', cols = tasks + avg."""
    summary = summarise(frame)
    summary = summary[summary.shown]
    tasks = sorted(frame.task.unique())
    numeric = summary.pivot(index="attention", columns="task", values="mean").reindex(columns=tasks)
    numeric["avg"] = numeric[tasks].mean(axis=1, skipna=False)
    display = summary.assign(cell=summary.apply(cell_text, axis=1)).pivot(index="attention", columns="task",
                                                                      values="cell").reindex(columns=tasks)
    display["avg"] = numeric["avg"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    for task in tasks:  # a task has no cell for a variant without that form: say so
        causal = frame[frame.task == task].causal.any()
        for attention in display.index[display[task].isna()]:
            if lacks_form(frame, attention, causal):
                display.loc[attention, task] = "n/a (no causal form)" if causal else "n/a (causal only)"
    display["params"] = _params(frame).reindex(display.index).fillna("")
    chance = frame.groupby("task").chance_accuracy.max().reindex(tasks)
    display.loc["chance"] = [*(f"{v:.2f}" if pd.notna(v) else "" for v in chance), "", ""]
    numeric.loc["chance"] = [*chance, float("nan")]
    order = numeric.drop(index="chance")["avg"].sort_values(ascending=False, na_position="last").index.tolist()
    display, numeric = display.reindex(order + ["chance"]), numeric.reindex(order + ["chance"])
    display.index.name = numeric.index.name = "attention"
    return display.fillna("MISSING"), numeric


def speed_memory_table(summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """attention x task: median train examples/s and peak memory of the shown setup, each memory figure
    marked with its counter (RSS on a CPU, the CUDA allocator's peak on a GPU); and the counters' labels."""
    shown = summary[summary.shown & summary.throughput.notna()]
    if shown.empty:
        return pd.DataFrame(), []
    counters = sorted({c for c in shown.memory_counter if isinstance(c, str)})
    marks = {c: "*" * (i + 1) for i, c in enumerate(counters)}
    cell = [f"{r.throughput:,.0f} ex/s, " + (f"{r.memory / 2**20:,.0f} MiB{marks.get(r.memory_counter, '')}"
                                           if pd.notna(r.memory) else "memory ?") for r in shown.itertuples()]
    table = shown.assign(cell=cell).pivot(index="attention", columns="task", values="cell").fillna("")
    return table, [f"{marks[c]} {memory_counter_label(c, long=True)} ({c})" for c in counters]


TIDY_COLUMNS = ["attention", "task", "mean", "std", "n", "ci95", "status", "params", "steps", "throughput",
                "memory", "memory_counter", "config_hash", "code_hash", "shown"]


def tidy_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as a tidy long table: one row per (attention, task, config); accuracy in percent,
    throughput in train examples/s, memory in bytes."""
    return summary[TIDY_COLUMNS].reset_index(drop=True)


def read_tidy(path: Path) -> pd.DataFrame:
    """A tidy CSV written by `write_report`, with its types (hashes stay strings)."""
    frame = pd.read_csv(path, dtype={"config_hash": str, "code_hash": str, "status": str, "memory_counter": str},
                        keep_default_na=False, na_values=[""])
    frame[["config_hash", "code_hash"]] = frame[["config_hash", "code_hash"]].fillna("")  # "": none recorded
    return frame[TIDY_COLUMNS]


def latex_table(summary: pd.DataFrame) -> str:
    """LaTeX of the leaderboard through pandas' Styler: one header row, mean $\\pm$ std per cell, the best
    mean of each task in bold, booktabs rules (\\usepackage{booktabs})."""
    shown = summary[summary.shown]
    means = shown.pivot(index="attention", columns="task", values="mean")
    text = shown.assign(cell=[
        FAILURE_MARK.get(r.status, "--") if pd.isna(r.mean) else
        f"{r.mean:.2f}" + (f" $\\pm$ {r.std:.2f}" if r.n > 1 else "") for r in shown.itertuples()]).pivot(
        index="attention", columns="task", values="cell").reindex(means.index).fillna("--")
    best = means.eq(means.max()) & means.notna()
    table = text.reset_index()
    table.columns.name = None
    style = pd.DataFrame("", index=table.index, columns=table.columns)
    for task in means.columns:
        style[task] = ["bfseries: ;" if b else "" for b in best[task].to_numpy()]
    styler = table.style.hide(axis="index").apply(lambda _: style, axis=None)
    return styler.to_latex(hrules=True, column_format="l" + "r" * len(means.columns),
                           caption="Test accuracy (\\%) at the best-validation checkpoint, mean $\\pm$ std over seeds",
                           label="tab:lra-bench", position_float="centering")


def published_speed_table(bench: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Our train-step speed and memory relative to softmax beside LRA Table 2's (lra_bench/reference/reference_speed.csv),
    at the lengths both have; published memory relative to the Transformer's at the same length."""
    if bench.empty or reference.empty or "attention" not in reference:
        return pd.DataFrame()
    train = bench[(bench["mode"] == "train") & (bench.status == "ok")]
    published = reference[reference.attention.astype(str) != ""].copy()
    transformer = published[published.attention == "softmax"].set_index("length").memory_gb
    published["memory_vs_softmax"] = published.memory_gb / published.length.map(transformer)
    rows = []
    for r in published.itertuples():
        ours = train[(train.attention == r.attention) & (train.length == r.length)]
        if ours.empty:
            continue
        ours = ours.iloc[-1]
        rows.append({"attention": r.attention, "length": r.length,
                     "speed vs softmax (ours)": 1 / ours.time_vs_softmax if ours.time_vs_softmax else float("nan"),
                     "speed vs softmax (LRA Table 2)": r.relative_speed,
                     "memory vs softmax (ours)": ours.memory_vs_softmax,
                     "memory vs softmax (LRA Table 2)": r.memory_vs_softmax})
    return pd.DataFrame(rows).round(2)


def latest_bench(records: list) -> pd.DataFrame:
    """Rows of the most recent attention-layer benchmark record (empty if none; `--model` records
    time whole steps and are not plotted against length; of a `--check` record, the non-causal rows,
    so a variant's causal and non-causal timings never share a line)."""
    latest = latest_bench_record(records)
    if latest is None:
        return pd.DataFrame()
    rows = [row for row in latest.rows if row.get("form", "non-causal") == "non-causal"]
    return pd.DataFrame(rows).assign(device=latest.device)


def _mixed_configs_text(summary: pd.DataFrame) -> str:
    mixed = summary[summary.configs > 1]
    if mixed.empty:
        return ""
    return ("\n\n† cells with records of more than one config (never averaged together; the table shows "
            "each cell's latest config):\n" + "".join(
                f"\n- {r.attention} on {r.task}, config {r.config_hash or '-'} code {r.code_hash or '-'}"
                f" ({'shown' if r.shown else 'not shown'}): {cell_text(r._asdict() | {'configs': 1})}, "
                f"steps {int(r.steps) if pd.notna(r.steps) else '?'}" for r in mixed.itertuples()))


def _paired_text(paired: pd.DataFrame) -> str:
    if paired.empty:
        return ""
    cells = paired.assign(cell=[
        f"{r.mean_diff:+.2f}" + (f" ± {r.std_diff:.2f}" if r.n > 1 else "") + f" (n={r.n})"
        + (f" [95% ±{r.ci95:.2f}]" if pd.notna(r.ci95) else "") for r in paired.itertuples()])
    return ("\n\n## Paired with softmax (same task, same seeds): difference in test accuracy (points)\n\n"
            + cells.pivot(index="attention", columns="task", values="cell").fillna("").to_markdown())


def check_reference(path: Path):
    """`report --reference`: the report reads a folder of published tables named as the package's
    (reference.csv; reference_more.csv and reference_speed.csv beside it where there are such), so a
    file of another name would be silently passed over: refused in one line instead."""
    if path.name != "reference.csv" or not path.is_file():
        raise ConfigError(f"report --reference {path}: expected an existing file named reference.csv (optional "
                          f"beside it: reference_more.csv, reference_speed.csv), or '' for none")


def write_report(store: Path, out: Path, reference_path: Path | None = None,
                 on_skip=None, records: list | None = None) -> tuple[str, list[Path]]:
    """Write the tables (md, csv, tidy csv, tex) and plots under `out`; return (markdown text, written
    paths). A store with a layer bench and no run record yet gets the markdown and the bench's plots.
    LRA Table 2 is read from `reference_speed.csv` beside `reference_path`. `records`: the
    store's, when the caller has loaded them already (`lra-bench report` shares them with the site)."""
    records = load_records(store, on_skip) if records is None else records
    frame, bench = records_frame(records), latest_bench(records)
    if frame.empty and bench.empty:
        return f"(no records in {store}: run `lra-bench sweep`, `lra-bench train` or `lra-bench bench` first)", []
    speed_reference = (load_reference(Path(reference_path).with_name("reference_speed.csv")) if reference_path
                       else pd.DataFrame())
    published_speed = published_speed_table(bench, speed_reference)
    out.mkdir(parents=True, exist_ok=True)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    if frame.empty:  # a bench before any training run: its tables and plots already say something
        text = (f"(no run records in {store} yet: the accuracy tables need `lra-bench sweep` or `lra-bench train`)"
                + _published_speed_text(bench, published_speed))
        (out / "leaderboard.md").write_text("# Leaderboard\n\n" + text + "\n")
        return text, [out / "leaderboard.md", *_bench_plots(bench, plots)]
    display, numeric = leaderboard(frame)
    summary = summarise(frame)
    lra_rows = leaderboard_rows(records, Path(reference_path).parent) if reference_path else []
    failures = frame[frame.status != "ok"]
    notes = "".join(f"\n- {r.attention} on {r.task} (seed {r.seed}): {r.status}: {r.error}"
                    for r in failures.itertuples())
    text = ("## Our runs: test accuracy (%) at the best-validation checkpoint\n\n"
            + display.to_markdown(disable_numparse=True) + _mixed_configs_text(summary) + _paired_text(
                paired_vs_softmax(frame, summary)))
    if notes:
        text += f"\n\nRuns without a result:{notes}"
    speed, counters = speed_memory_table(summary)
    if not speed.empty:
        text += ("\n\n## Speed (train examples/s, median over seeds) and peak memory of the runs\n\n"
                 + speed.to_markdown() + "\n\n" + "\n".join(counters))
    diagnostics = [r for r in records if isinstance(r, DiagnosticsRecord)]
    if diagnostics:
        latest = max(diagnostics, key=lambda r: r.finished_at)
        table = pd.DataFrame(latest.rows).set_index("attention").drop(columns=["source"], errors="ignore").round(3)
        text += (f"\n\n## Attention diagnostics ({latest.task}, "
                 f"{'trained' if latest.trained else 'at initialisation'}; lra-bench diagnose)\n\n"
                 + table.to_markdown())
    if lra_rows:
        text += ("\n\n## LRA Table 1, row for row\n\n" + rows_markdown(lra_rows)
                 + "\n\n(test accuracy, %; avg over ListOps, Text, Retrieval, Image, Pathfinder as LRA Table 1, only "
                   "where all five have a number; an empty cell of ours: no run on that task; our CPU presets such "
                   "as listops_small are not LRA tasks and appear only above)")
    text += _published_speed_text(bench, published_speed)
    written = [out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.tex", plots / "leaderboard.png",
               out / "leaderboard_long.csv"]
    written[0].write_text("# Leaderboard\n\n" + text + "\n")
    numeric.round(4).to_csv(written[1])
    written[2].write_text(latex_table(summary))
    plot_bars(numeric, summary, written[3], display)
    tidy_table(summary).to_csv(written[4], index=False)
    if lra_rows:
        rows_frame(lra_rows).to_csv(out / "leaderboard_lra.csv", index=False)
        (out / "leaderboard_lra.tex").write_text(rows_latex(lra_rows))
        written += [out / "leaderboard_lra.csv", out / "leaderboard_lra.tex"]
    if plot_learning_curves(records, summary, plots / "learning_curves.png"):
        written.append(plots / "learning_curves.png")
    if not bench.empty:
        written += _bench_plots(bench, plots)
        if plot_accuracy_vs_speed(numeric, bench, plots / "accuracy_vs_speed.png", summary,
                                  published_points(lra_rows, speed_reference)):
            written.append(plots / "accuracy_vs_speed.png")
    return text, written


def _published_speed_text(bench: pd.DataFrame, published_speed: pd.DataFrame) -> str:
    """The section putting our layer's ratios beside LRA Table 2's ('' without both)."""
    if published_speed.empty:
        return ""
    return (f"\n\n## One attention layer (train step) relative to softmax, beside LRA Table 2 ({bench.device.iloc[0]}"
            " here; LRA: whole model, byte-level Text, batch 32, TPU v3)\n\n"
            + published_speed.to_markdown(index=False))


def _bench_plots(bench: pd.DataFrame, plots: Path) -> list[Path]:
    """Time and memory against length from the latest layer bench (LRA Figure 3's axes)."""
    plot_scaling(bench, "ms", "time per step (ms)", plots / "speed_vs_length.png")
    plot_scaling(bench, "peak_bytes", "peak memory (MiB)", plots / "memory_vs_length.png", scale=2**-20)
    return [plots / "speed_vs_length.png", plots / "memory_vs_length.png"]


def log_report(out: Path, written: list[Path]):
    """`lra-bench report --wandb`: the tidy leaderboard as a `wandb.Table` and each plot as an image, in a
    W&B run of job_type `report`."""
    from .tracking import command_tracker

    tidy = next((p for p in written if p.name == "leaderboard_long.csv"), None)
    if tidy is None:
        return None
    tracker = command_tracker("report", out, {"out": str(out)})
    tracker.table("leaderboard", read_tidy(tidy), plots={f"plots/{p.stem}": p for p in written if p.suffix == ".png"})
    path = tracker.path
    tracker.finish()
    return path
