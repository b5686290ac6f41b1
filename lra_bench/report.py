"""The leaderboard: records in the store -> tables (LRA Table 1) and plots (LRA Table 2, Figure 3).

Per (task, attention, seed) the latest record counts; seeds are then averaged (mean +- std, n).
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


def records_frame(records: list) -> pd.DataFrame:
    """One row per training record with the fields the tables need (accuracies in percent). Takes
    typed records (`results.load_records`) or the JSON dicts of `read_records`."""
    runs = [r for r in map(parse_record, records) if isinstance(r, RunRecord)]
    rows = [{"run_id": r.run_id, "task": r.task, "attention": r.attention, "seed": r.seed, "status": r.status,
             "finished_at": r.finished_at, "test_accuracy": _percent(r.metrics, "test_accuracy"),
             "chance_accuracy": _percent(r.metrics, "chance_accuracy"),
             "stuck_at_chance": bool(r.metrics.get("stuck_at_chance", False)), "num_parameters": r.num_parameters,
             "train_examples_per_s": r.throughput.get("train_examples_per_s"), "recipe": r.recipe,
             "error": r.error, "causal": r.causal, "has_causal": r.has_form(causal=True),
             "has_non_causal": r.has_form(causal=False)} for r in runs]
    frame = pd.DataFrame(rows, columns=["run_id", "task", "attention", "seed", "status", "finished_at",
                                        "test_accuracy", "chance_accuracy", "stuck_at_chance", "num_parameters",
                                        "train_examples_per_s", "recipe", "error", "causal", "has_causal",
                                        "has_non_causal"])
    return (frame.sort_values("finished_at").groupby(["task", "attention", "seed"], as_index=False).tail(1)
            .reset_index(drop=True))


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (attention, task): mean, std, number of seeds, and the status shown if none succeeded."""
    ok = frame[frame.status == "ok"]
    stats = ok.groupby(["attention", "task"]).agg(mean=("test_accuracy", "mean"), std=("test_accuracy", "std"),
                                                  n=("test_accuracy", "size"),
                                                  stuck=("stuck_at_chance", "any")).reset_index()
    fails = frame[frame.status != "ok"].groupby(["attention", "task"]).status.last().reset_index()
    return stats.merge(fails, on=["attention", "task"], how="outer")


def _cell(row) -> str:
    if pd.isna(row["mean"]):
        return FAILURE_MARK.get(row["status"], "MISSING")
    text = f"{row['mean']:.2f}"
    if row["n"] > 1:
        text += f" ± {row['std']:.2f} (n={int(row['n'])})"
    return text + (" (chance)" if row["stuck"] else "")


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


def plot_bars(numeric: pd.DataFrame, path: Path):
    """Per-task test accuracy per attention, with the chance rate as a dashed line."""
    tasks = [c for c in numeric.columns if c != "avg"]
    attentions = [a for a in numeric.index if a != "chance"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(max(5.0, 0.55 * len(attentions) + 2) * len(tasks), 4),
                             squeeze=False)
    for ax, task in zip(axes[0], tasks):
        values = numeric.loc[attentions, task]
        ax.bar(range(len(attentions)), values.fillna(0), color=["C0" if pd.notna(v) else "lightgray" for v in values])
        ax.set_xticks(range(len(attentions)), attentions, rotation=45, ha="right")
        if pd.notna(numeric.loc["chance", task]):
            ax.axhline(numeric.loc["chance", task], ls="--", color="k", lw=1, label="chance (majority class)")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(task)
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(0, 100)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_scaling(bench: pd.DataFrame, value: str, ylabel: str, path: Path, scale: float = 1.0):
    """A benchmark quantity against sequence length, one line per attention, train and infer side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, mode in zip(axes, ("train", "infer")):
        part = bench[(bench["mode"] == mode) & (bench.status == "ok")]
        for i, (attention, group) in enumerate(part.groupby("attention")):
            style = {"color": "k", "lw": 2.5} if attention == "softmax" else {"color": plt.cm.tab20(i % 20)}
            ax.plot(group.length, group[value] * scale, marker="o", label=attention, **style)
        for attention, group in bench[(bench["mode"] == mode) & (bench.status == "OOM")].groupby("attention"):
            ax.scatter(group.length, [ax.get_ylim()[1]] * len(group), marker="x", color="r")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{mode} ({'forward+backward' if mode == 'train' else 'forward, no grad'}); x = OOM")
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle(f"one attention layer, {bench.device.iloc[0]}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_vs_speed(numeric: pd.DataFrame, bench: pd.DataFrame, path: Path) -> bool:
    """LRA Figure 3: average accuracy against speed relative to softmax, memory as the marker size."""
    train = bench[(bench["mode"] == "train") & (bench.status == "ok")]
    if train.empty or "softmax" not in set(train.attention):
        return False
    length = train[train.attention == "softmax"].length.max()
    at = train[train.length == length].set_index("attention")
    points = [(a, numeric.loc[a, "avg"], at.loc["softmax", "ms"] / at.loc[a, "ms"], at.loc[a, "peak_bytes"])
              for a in numeric.index if a in at.index and pd.notna(numeric.loc[a, "avg"])]
    if not points:
        return False
    fig, ax = plt.subplots(figsize=(7, 5))
    biggest = max(p[3] for p in points)
    for name, accuracy, speed, memory in points:
        ax.scatter(speed, accuracy, s=50 + 1500 * memory / biggest, alpha=0.5)
        ax.annotate(name, (speed, accuracy), fontsize=8, ha="center", va="bottom")
    ax.set_xlabel(f"speed relative to softmax (train step, length {length})")
    ax.set_ylabel("average test accuracy (%)")
    ax.set_title("accuracy vs speed; marker area = peak memory")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_report(store: Path, out: Path, reference_path: Path | None = None,
                 on_skip=None) -> tuple[str, list[Path]]:
    """Write the tables (md, csv, tex) and plots under `out`; return (markdown text, written paths)."""
    records = load_records(store, on_skip)
    frame = records_frame(records)
    if frame.empty:
        return f"(no run records in {store}: run `lra-bench sweep` or `lra-bench train` first)", []
    display, numeric = leaderboard(frame)
    published = published_table(load_reference(reference_path) if reference_path else pd.DataFrame(), frame)
    bench = latest_bench(records)
    out.mkdir(parents=True, exist_ok=True)
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    failures = frame[frame.status != "ok"]
    notes = "".join(f"\n- {r.attention} on {r.task} (seed {r.seed}): {r.status}: {r.error}"
                    for r in failures.itertuples())
    text = "## Our runs: test accuracy (%) at the best-validation checkpoint\n\n" + display.to_markdown(
        disable_numparse=True)
    if notes:
        text += f"\n\nRuns without a result:{notes}"
    diagnostics = [r for r in records if isinstance(r, DiagnosticsRecord)]
    if diagnostics:
        latest = max(diagnostics, key=lambda r: r.finished_at)
        table = pd.DataFrame(latest.rows).set_index("attention").drop(columns=["source"]).round(3)
        text += (f"\n\n## Attention diagnostics ({latest.task}, "
                 f"{'trained' if latest.trained else 'at initialisation'}; lra-bench diagnose)\n\n"
                 + table.to_markdown())
    if not published.empty:
        text += ("\n\n## LRA tasks beside the published numbers\n\n" + published.to_markdown(disable_numparse=True)
                 + "\n\n(avg over ListOps, Text, Retrieval, Image, Pathfinder as LRA Table 1; our CPU presets "
                   "such as listops_small are not LRA tasks and appear only above)")
    written = [out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.tex", plots / "leaderboard.png"]
    written[0].write_text("# Leaderboard\n\n" + text + "\n")
    numeric.round(4).to_csv(written[1])
    written[2].write_text(display.to_latex(escape=True, caption="Test accuracy (\\%) at the best-validation "
                                                                  "checkpoint", label="tab:lra-bench"))
    plot_bars(numeric, written[3])
    if not published.empty:
        published.to_csv(out / "leaderboard_published.csv")
        written.append(out / "leaderboard_published.csv")
    if not bench.empty:
        plot_scaling(bench, "ms", "time per step (ms)", plots / "speed_vs_length.png")
        plot_scaling(bench, "peak_bytes", "peak memory (MiB)", plots / "memory_vs_length.png", scale=2**-20)
        written += [plots / "speed_vs_length.png", plots / "memory_vs_length.png"]
        if plot_accuracy_vs_speed(numeric, bench, plots / "accuracy_vs_speed.png"):
            written.append(plots / "accuracy_vs_speed.png")
    return text, written
