"""The leaderboard: records in the store -> tables (LRA Table 1) and plots (LRA Table 2, Figure 3).

Per (task, attention, seed, setup) the latest record counts, where a setup is the config without its
seed plus the code (results.setup_hash, provenance.code_identity); seeds of one setup are then
averaged (mean +- std, n, and a 95% t-interval from 3 seeds). Records of different setups are never
averaged: a cell shows its latest setup, marked `†k configs` when there are others, each listed
below the table; a paired difference to softmax on the same seeds sits beside it.
A cell with no successful run shows the failure (FAIL / OOM / DIVERGED / RUNNING), never a zero
(lessons.md: xformers' collector filled missing runs with zeros). A run whose best validation
accuracy stayed at chance is marked `(chance)`; a run with over 10% more parameters than softmax on
the same task is marked in the params column (the LRA budget rule). On the LRA tasks our rows sit
beside the published ones (results/reference.csv), each published row marked with its source.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .results import BenchRecord, DiagnosticsRecord, RunRecord, load_records, parse_record  # noqa: E402

FAILURE_MARK = {"failed": "FAIL", "oom": "OOM", "diverged": "DIVERGED", "running": "RUNNING"}
LRA_TASKS = ["listops", "text", "retrieval", "image", "pathfinder", "pathx"]
LRA_AVERAGED = LRA_TASKS[:5]  # LRA Table 1 averages five tasks: Path-X failed for every model
PARAM_BUDGET = 1.10


def _percent(metrics: dict, key: str) -> float:
    return 100 * metrics[key] if key in metrics else float("nan")


FRAME_COLUMNS = ["run_id", "task", "attention", "seed", "status", "finished_at", "test_accuracy", "chance_accuracy",
                 "stuck_at_chance", "num_parameters", "train_examples_per_s", "peak_memory_bytes", "memory_counter",
                 "steps", "setup_hash", "code_hash", "setup", "recipe", "error", "causal", "has_causal",
                 "has_non_causal"]


def records_frame(records: list) -> pd.DataFrame:
    """One row per training record with the fields the tables need (accuracies in percent). Takes
    typed records (`results.load_records`) or the JSON dicts of `read_records`. Per (task, attention,
    seed, setup) the latest record counts; `setup` is the config hash without the seed plus the code
    hash, so records of different configs or code are never taken for seeds of one another."""
    runs = [r for r in map(parse_record, records) if isinstance(r, RunRecord)]
    rows = [{"run_id": r.run_id, "task": r.task, "attention": r.attention, "seed": r.seed, "status": r.status,
             "finished_at": r.finished_at, "test_accuracy": _percent(r.metrics, "test_accuracy"),
             "chance_accuracy": _percent(r.metrics, "chance_accuracy"),
             "stuck_at_chance": bool(r.metrics.get("stuck_at_chance", False)), "num_parameters": r.num_parameters,
             "train_examples_per_s": r.throughput.get("train_examples_per_s"),
             "peak_memory_bytes": r.throughput.get("peak_memory_bytes"),
             "memory_counter": r.throughput.get("peak_memory_counter"), "steps": r.steps,
             "setup_hash": r.setup_hash, "code_hash": r.code_hash or "",
             "setup": f"{r.setup_hash or '-'}/{r.code_hash or '-'}", "recipe": r.recipe,
             "error": r.error, "causal": r.causal, "has_causal": r.has_form(causal=True),
             "has_non_causal": r.has_form(causal=False)} for r in runs]
    frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
    return (frame.sort_values("finished_at").groupby(["task", "attention", "seed", "setup"], as_index=False)
            .tail(1).reset_index(drop=True))


# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (normal beyond).
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def ci95(std: float, n: int) -> float:
    """Half-width of the 95% t-interval of a mean over n seeds; NaN below 3 seeds (too few to say)."""
    if n < 3 or pd.isna(std):
        return float("nan")
    return (_T95[n - 2] if n - 1 <= len(_T95) else 1.96) * std / n ** 0.5


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (attention, task, setup): mean, std, n over seeds, the 95% half-interval (n >= 3), the
    status shown if none succeeded, and what the cell was computed with (params, steps, speed, memory,
    config and code hash). `shown` marks the latest setup of each (attention, task): the leaderboard's
    cell; `configs` counts the setups of the pair, so a cell that has others says so."""
    keys = ["attention", "task", "setup"]
    ok = frame[frame.status == "ok"]
    stats = ok.groupby(keys).agg(mean=("test_accuracy", "mean"), std=("test_accuracy", "std"),
                                 n=("test_accuracy", "size"), stuck=("stuck_at_chance", "any"),
                                 throughput=("train_examples_per_s", "median"),
                                 memory=("peak_memory_bytes", "max")).reset_index()
    fails = frame[frame.status != "ok"].groupby(keys).status.last().reset_index()
    info = frame.groupby(keys).agg(latest=("finished_at", "max"), params=("num_parameters", "max"),
                                   steps=("steps", "max"), memory_counter=("memory_counter", "last"),
                                   config_hash=("setup_hash", "last"), code_hash=("code_hash", "last")).reset_index()
    summary = info.merge(stats, on=keys, how="left").merge(fails, on=keys, how="left")
    summary["ci95"] = [ci95(s, int(n)) if pd.notna(n) else float("nan") for s, n in zip(summary["std"], summary.n)]
    summary["n"] = summary.n.fillna(0).astype(int)
    summary["status"] = summary.status.where(summary["mean"].isna(), "ok")
    newest = summary.sort_values("latest").groupby(["attention", "task"]).tail(1).index
    summary["shown"] = summary.index.isin(newest)
    summary["configs"] = summary.groupby(["attention", "task"]).setup.transform("size")
    return summary.sort_values(keys).reset_index(drop=True)


def _cell(row) -> str:
    if pd.isna(row["mean"]):
        text = FAILURE_MARK.get(row["status"], "MISSING")
    else:
        text = f"{row['mean']:.2f}"
        if row["n"] > 1:
            text += f" ± {row['std']:.2f} (n={int(row['n'])})"
        if pd.notna(row.get("ci95")):
            text += f" [95% ±{row['ci95']:.2f}]"
        text += " (chance)" if row["stuck"] else ""
    if row.get("configs", 1) > 1:
        text += f" †{int(row['configs'])} configs"
    return text


def paired_vs_softmax(frame: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Per (attention, task): accuracy minus softmax's on the same seeds (the shown setups of both),
    mean, std and n of the differences, and the 95% half-interval where n >= 3."""
    ok = frame[frame.status == "ok"]
    shown = summary[summary.shown][["attention", "task", "setup"]]
    ok = ok.merge(shown, on=["attention", "task", "setup"])
    softmax = ok[ok.attention == "softmax"].set_index(["task", "seed"]).test_accuracy
    rows = []
    for (attention, task), group in ok[ok.attention != "softmax"].groupby(["attention", "task"]):
        pairs = [(acc, softmax.get((task, seed))) for acc, seed in zip(group.test_accuracy, group.seed)]
        diffs = pd.Series([a - b for a, b in pairs if b is not None and pd.notna(b)], dtype=float)
        if diffs.empty:
            continue
        rows.append({"attention": attention, "task": task, "mean_diff": diffs.mean(), "std_diff": diffs.std(),
                     "n": len(diffs), "ci95": ci95(diffs.std(), len(diffs))})
    return pd.DataFrame(rows, columns=["attention", "task", "mean_diff", "std_diff", "n", "ci95"])


def _params(frame: pd.DataFrame) -> pd.Series:
    """Parameter count per attention, marked when over the budget of softmax's on a shared task."""
    params = frame.dropna(subset=["num_parameters"]).groupby(["attention", "task"]).num_parameters.max().unstack()
    marks = {}
    for attention in params.index:
        over = ("softmax" in params.index and
                (params.loc[attention] > PARAM_BUDGET * params.loc["softmax"]).fillna(False).any())
        marks[attention] = f"{int(params.loc[attention].max()):,}" + (" (>10% over softmax)" if over else "")
    return pd.Series(marks, dtype=object)


def _lacks_form(frame: pd.DataFrame, attention: str, causal: bool) -> bool:
    """Whether the variant's records say it has no such form (records that cannot say: no)."""
    said = frame.loc[frame.attention == attention, "has_causal" if causal else "has_non_causal"].dropna()
    return not said.empty and not bool(said.iloc[-1])


def leaderboard(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display table of strings, numeric table of means), rows = attention + 'chance', cols = tasks + avg."""
    summary = summarise(frame)
    summary = summary[summary.shown]
    tasks = sorted(frame.task.unique())
    numeric = summary.pivot(index="attention", columns="task", values="mean").reindex(columns=tasks)
    numeric["avg"] = numeric[tasks].mean(axis=1, skipna=False)
    display = summary.assign(cell=summary.apply(_cell, axis=1)).pivot(index="attention", columns="task",
                                                                      values="cell").reindex(columns=tasks)
    display["avg"] = numeric["avg"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    for task in tasks:  # a task has no cell for a variant without that form: say so
        causal = frame[frame.task == task].causal.any()
        for attention in display.index[display[task].isna()]:
            if _lacks_form(frame, attention, causal):
                display.loc[attention, task] = "n/a (no causal form)" if causal else "n/a (causal only)"
    display["params"] = _params(frame).reindex(display.index).fillna("")
    chance = frame.groupby("task").chance_accuracy.max().reindex(tasks)
    display.loc["chance"] = [*(f"{v:.2f}" if pd.notna(v) else "" for v in chance), "", ""]
    numeric.loc["chance"] = [*chance, float("nan")]
    order = numeric.drop(index="chance")["avg"].sort_values(ascending=False, na_position="last").index.tolist()
    display, numeric = display.reindex(order + ["chance"]), numeric.reindex(order + ["chance"])
    display.index.name = numeric.index.name = "attention"
    return display.fillna("MISSING"), numeric


MEMORY_COUNTERS = {"cuda_max_memory_allocated": "CUDA max_memory_allocated",
                   "process_peak_rss": "process RSS peak (CPU: the whole Python process, not the model alone)"}


def _counter_label(counter) -> str:
    if not isinstance(counter, str):
        return "unknown counter"
    return next((label for key, label in MEMORY_COUNTERS.items() if counter.startswith(key)), counter)


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
    return table, [f"{marks[c]} {_counter_label(c)} ({c})" for c in counters]


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
    """Our train-step speed and memory relative to softmax beside LRA Table 2's (results/reference_speed.csv),
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


def load_reference(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"accuracy": str}, keep_default_na=False) if Path(path).is_file() else pd.DataFrame()


def published_table(reference: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """LRA tasks only: published rows (marked with their source) and our rows on the same tasks."""
    if reference.empty:
        return pd.DataFrame()
    lra = reference[reference.task.isin(LRA_TASKS) & (reference.setting != "chance")]
    rows = {}
    for (model, source), group in lra.groupby(["model", "setting"], sort=False):
        label = f"{model} (published: {group.source.iloc[0].split(' / ')[0]})"
        rows[label] = group.set_index("task").accuracy.reindex(LRA_TASKS).fillna("")
    ours = summarise(frame[frame.task.isin(LRA_TASKS)]) if not frame.empty else pd.DataFrame()
    ours = ours[ours.shown] if not ours.empty else ours
    if not ours.empty:
        for attention, group in ours.groupby("attention"):
            rows[f"{attention} (ours)"] = group.set_index("task").apply(_cell, axis=1).reindex(LRA_TASKS).fillna("")
    table = pd.DataFrame(rows).T
    numbers = table[LRA_AVERAGED].apply(lambda col: pd.to_numeric(col.str.split(" ").str[0], errors="coerce"))
    table["avg"] = numbers.mean(axis=1, skipna=False).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    table.index.name = "model"
    return table


def latest_bench(records: list) -> pd.DataFrame:
    """Rows of the most recent attention-layer benchmark record (empty if none; `--model` records
    time whole steps and are not plotted against length; of a `--check` record, the non-causal rows,
    so a variant's causal and non-causal timings never share a line)."""
    bench = [r for r in map(parse_record, records) if isinstance(r, BenchRecord)
             and any(row.get("mode") in ("train", "infer") for row in r.rows)]
    if not bench:
        return pd.DataFrame()
    latest = max(bench, key=lambda r: r.finished_at)
    rows = [row for row in latest.rows if row.get("form", "non-causal") == "non-causal"]
    return pd.DataFrame(rows).assign(device=latest.device)


def _palette(names: list[str]) -> dict:
    """A distinct (colour, line style) per attention: ten tab10 hues, then the hues again dashed, dotted;
    softmax, the reference, in black."""
    styles, others = {}, [n for n in names if n != "softmax"]
    for i, name in enumerate(others):
        styles[name] = {"color": plt.cm.tab10(i % 10), "ls": ("-", "--", ":", "-.")[i // 10 % 4]}
    if "softmax" in names:
        styles["softmax"] = {"color": "k", "ls": "-"}
    return styles


def plot_bars(numeric: pd.DataFrame, summary: pd.DataFrame, path: Path):
    """Per-task test accuracy per attention (the shown config), std over seeds as error bars, the chance
    rate dashed; the axis spans the data (not 0-100), so differences stay visible; a cell without a
    result is a grey stub labelled with its status."""
    tasks = [c for c in numeric.columns if c != "avg"]
    attentions = [a for a in numeric.index if a != "chance"]
    shown = summary[summary.shown].set_index(["attention", "task"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(4.5, 0.5 * len(attentions) + 2) * len(tasks), 4.4),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        values = numeric.loc[attentions, task]
        std = pd.Series([shown["std"].get((a, task), float("nan")) for a in attentions], index=attentions).fillna(0)
        chance = numeric.loc["chance", task]
        known = pd.concat([values - std, values + std, pd.Series([chance])]).dropna()
        low = max(0.0, known.min() - 5) if not known.empty else 0.0
        high = min(100.0, known.max() + 5) if not known.empty else 100.0
        colours = ["k" if a == "softmax" else "C0" for a in attentions]
        ax.bar(range(len(attentions)), (values - low).fillna(0), bottom=low, yerr=std.where(values.notna(), 0),
               capsize=3, color=colours, error_kw={"elinewidth": 1})
        for i, (attention, value) in enumerate(values.items()):
            if pd.isna(value):
                status = shown["status"].get((attention, task), "missing")
                ax.text(i, low + 0.02 * (high - low), FAILURE_MARK.get(status, "MISSING"), rotation=90, ha="center",
                        va="bottom", fontsize=7, color="0.4")
        if pd.notna(chance):
            ax.axhline(chance, ls="--", color="0.3", lw=1)
        ax.set_xticks(range(len(attentions)), attentions, rotation=45, ha="right")
        ax.set_title(task)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(low, high)
    fig.suptitle("test accuracy\nerror bars: std over seeds; dashed: chance (majority class)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plain_log_ticks(axis):
    """Log-scale tick labels as plain numbers (600, not 6x10^2), with 2 and 5 between the decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
    axis.set_minor_formatter(plain)


def plot_scaling(bench: pd.DataFrame, value: str, ylabel: str, path: Path, scale: float = 1.0):
    """A benchmark quantity against sequence length, one line per attention, train and infer side by side;
    a red x on the top edge marks an out-of-memory (and the title says so only when there is one)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    styles = _palette(sorted(set(bench.attention)))
    lengths = sorted(set(bench.length))
    for ax, mode in zip(axes, ("train", "infer")):
        part = bench[(bench["mode"] == mode) & (bench.status == "ok")]
        for attention, group in part.groupby("attention"):
            group = group.sort_values("length")
            ax.plot(group.length, group[value] * scale, marker="o", ms=3, label=attention,
                    lw=2.5 if attention == "softmax" else 1.3, **styles[attention])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(lengths, [str(n) for n in lengths])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        _plain_log_ticks(ax.yaxis)
        oom = bench[(bench["mode"] == mode) & (bench.status == "OOM")]
        if not oom.empty:
            top = ax.get_ylim()[1]
            ax.scatter(oom.length, [top] * len(oom), marker="x", color="r", clip_on=False, zorder=5)
        ax.set_xlabel("sequence length")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{mode} ({'forward+backward' if mode == 'train' else 'forward, no grad'})"
                     + ("; x = OOM" if not oom.empty else ""))
        ax.grid(True, which="both", alpha=0.2)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, frameon=False)
    fig.suptitle(f"one attention layer, {bench.device.iloc[0]}")
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_speed(numeric: pd.DataFrame, bench: pd.DataFrame, path: Path,
                           summary: pd.DataFrame | None = None) -> bool:
    """LRA Figure 3: average accuracy against speed relative to softmax, memory as the marker area (with a
    size key). The average is over the tasks on which no plotted variant is stuck at chance: a task
    nobody learned says nothing about the variants (the title names the tasks averaged)."""
    train = bench[(bench["mode"] == "train") & (bench.status == "ok")]
    if train.empty or "softmax" not in set(train.attention):
        return False
    length = train[train.attention == "softmax"].length.max()
    at = train[train.length == length].set_index("attention")
    attentions = [a for a in numeric.index if a in at.index and a != "chance"]
    tasks = [c for c in numeric.columns if c != "avg"]
    if summary is not None:
        stuck = summary[summary.shown & summary.attention.isin(attentions) & summary.stuck.fillna(False).astype(bool)]
        tasks = [t for t in tasks if t not in set(stuck.task)]
    if not tasks:
        return False
    averages = numeric.loc[attentions, tasks].mean(axis=1, skipna=False)
    points = [(a, averages[a], at.loc["softmax", "ms"] / at.loc[a, "ms"], at.loc[a, "peak_bytes"])
              for a in attentions if pd.notna(averages[a])]
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    biggest = max(p[3] for p in points)
    styles = _palette([p[0] for p in points])

    def area(memory):
        return 40 + 1200 * memory / biggest

    for name, accuracy, speed, memory in points:
        ax.scatter(speed, accuracy, s=area(memory), alpha=0.5, color=styles[name]["color"], clip_on=False)
        ax.annotate(name, (speed, accuracy), fontsize=8, ha="center", va="bottom", xytext=(0, 6),
                    textcoords="offset points")
    ax.margins(0.2)
    for fraction in (0.25, 0.5, 1.0):
        ax.scatter([], [], s=area(fraction * biggest), color="0.6", alpha=0.5,
                   label=f"{fraction * biggest / 2**20:.0f} MiB")
    ax.legend(title="peak memory", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, labelspacing=1.5)
    ax.set_xlabel(f"speed relative to softmax (train step of one layer, length {length})")
    ax.set_ylabel("average test accuracy (%)")
    ax.set_title(f"accuracy vs speed; averaged over {', '.join(tasks)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_learning_curves(records: list, summary: pd.DataFrame, path: Path) -> bool:
    """Validation accuracy against step from the records' history, one panel per task, one line per
    attention (the shown config; mean over its seeds)."""
    shown = set(summary[summary.shown][["attention", "task", "setup"]].itertuples(index=False, name=None))
    rows = [{"task": r.task, "attention": r.attention, "step": h["step"], "val": 100 * h["val_accuracy"]}
            for r in records if isinstance(r, RunRecord) and r.status == "ok"
            and (r.attention, r.task, f"{r.setup_hash or '-'}/{r.code_hash or '-'}") in shown
            for h in r.history if isinstance(h, dict) and "step" in h and "val_accuracy" in h]
    if not rows:
        return False
    curves = pd.DataFrame(rows).groupby(["task", "attention", "step"]).val.mean().reset_index()
    tasks = sorted(set(curves.task))
    styles = _palette(sorted(set(curves.attention)))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks) + 1.5, 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for attention, group in curves[curves.task == task].groupby("attention"):
            ax.plot(group.step, group.val, marker="o", ms=3, label=attention,
                    lw=2.5 if attention == "softmax" else 1.3, **styles[attention])
        ax.set_title(task)
        ax.set_xlabel("training step")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(True, alpha=0.2)
    handles, labels = {}, {}
    for ax in axes[0]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(l, h)
    fig.legend(list(handles.values()), list(handles), loc="center right", fontsize=8, frameon=False)
    fig.suptitle("learning curves (mean over seeds)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _mixed_configs_text(summary: pd.DataFrame) -> str:
    mixed = summary[summary.configs > 1]
    if mixed.empty:
        return ""
    return ("\n\n† cells with records of more than one config (never averaged together; the table shows "
            "each cell's latest config):\n" + "".join(
                f"\n- {r.attention} on {r.task}, config {r.config_hash or '-'} code {r.code_hash or '-'}"
                f" ({'shown' if r.shown else 'not shown'}): {_cell(r._asdict() | {'configs': 1})}, "
                f"steps {int(r.steps) if pd.notna(r.steps) else '?'}" for r in mixed.itertuples()))


def _paired_text(paired: pd.DataFrame) -> str:
    if paired.empty:
        return ""
    cells = paired.assign(cell=[
        f"{r.mean_diff:+.2f}" + (f" ± {r.std_diff:.2f}" if r.n > 1 else "") + f" (n={r.n})"
        + (f" [95% ±{r.ci95:.2f}]" if pd.notna(r.ci95) else "") for r in paired.itertuples()])
    return ("\n\n## Paired with softmax (same task, same seeds): difference in test accuracy (points)\n\n"
            + cells.pivot(index="attention", columns="task", values="cell").fillna("").to_markdown())


def write_report(store: Path, out: Path, reference_path: Path | None = None,
                 on_skip=None) -> tuple[str, list[Path]]:
    """Write the tables (md, csv, tidy csv, tex) and plots under `out`; return (markdown text, written
    paths). LRA Table 2 is read from `reference_speed.csv` beside `reference_path`."""
    records = load_records(store, on_skip)
    frame = records_frame(records)
    if frame.empty:
        return f"(no run records in {store}: run `lra-bench sweep` or `lra-bench train` first)", []
    display, numeric = leaderboard(frame)
    summary = summarise(frame)
    published = published_table(load_reference(reference_path) if reference_path else pd.DataFrame(), frame)
    bench = latest_bench(records)
    speed_reference = (load_reference(Path(reference_path).with_name("reference_speed.csv")) if reference_path
                       else pd.DataFrame())
    published_speed = published_speed_table(bench, speed_reference)
    out.mkdir(parents=True, exist_ok=True)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
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
    if not published.empty:
        text += ("\n\n## LRA tasks beside the published numbers\n\n" + published.to_markdown(disable_numparse=True)
                 + "\n\n(avg over ListOps, Text, Retrieval, Image, Pathfinder as LRA Table 1; our CPU presets "
                   "such as listops_small are not LRA tasks and appear only above)")
    if not published_speed.empty:
        text += (f"\n\n## One attention layer (train step) relative to softmax, beside LRA Table 2 ({bench.device.iloc[0]}"
                 " here; LRA: whole model, byte-level Text, batch 32, TPU v3)\n\n"
                 + published_speed.to_markdown(index=False))
    written = [out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.tex", plots / "leaderboard.png",
               out / "leaderboard_long.csv"]
    written[0].write_text("# Leaderboard\n\n" + text + "\n")
    numeric.round(4).to_csv(written[1])
    written[2].write_text(latex_table(summary))
    plot_bars(numeric, summary, written[3])
    tidy_table(summary).to_csv(written[4], index=False)
    if not published.empty:
        published.to_csv(out / "leaderboard_published.csv")
        written.append(out / "leaderboard_published.csv")
    if plot_learning_curves(records, summary, plots / "learning_curves.png"):
        written.append(plots / "learning_curves.png")
    if not bench.empty:
        plot_scaling(bench, "ms", "time per step (ms)", plots / "speed_vs_length.png")
        plot_scaling(bench, "peak_bytes", "peak memory (MiB)", plots / "memory_vs_length.png", scale=2**-20)
        written += [plots / "speed_vs_length.png", plots / "memory_vs_length.png"]
        if plot_accuracy_vs_speed(numeric, bench, plots / "accuracy_vs_speed.png", summary):
            written.append(plots / "accuracy_vs_speed.png")
    return text, written


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
