"""The report's figures (issue 19, "Plots"): accuracy bars with std error bars, learning curves from the
records' history, speed and memory against length, and accuracy against speed (LRA Figure 3)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .aggregate import FAILURE_MARK  # noqa: E402
from .results import RunRecord  # noqa: E402


def _palette(names: list[str]) -> dict:
    """A distinct (colour, line style) per attention: ten tab10 hues, then the hues again dashed, dotted;
    softmax, the reference, in black."""
    styles, others = {}, [n for n in names if n != "softmax"]
    for i, name in enumerate(others):
        styles[name] = {"color": plt.cm.tab10(i % 10), "ls": ("-", "--", ":", "-.")[i // 10 % 4]}
    if "softmax" in names:
        styles["softmax"] = {"color": "k", "ls": "-"}
    return styles


def plot_bars(numeric: pd.DataFrame, summary: pd.DataFrame, path: Path, display: pd.DataFrame | None = None):
    """Per-task test accuracy per attention (the shown config), std over seeds as error bars, the chance
    rate dashed; the axis spans the data (not 0-100), so differences stay visible; a cell without a
    result is a grey stub labelled with its status, or "n/a" where the table says the variant has no
    such form (`display`, the leaderboard's text cells)."""
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
                text = str(display.loc[attention, task]) if display is not None else ""
                label = "n/a" if text.startswith("n/a") else FAILURE_MARK.get(status, "MISSING")
                ax.text(i, low + 0.02 * (high - low), label, rotation=90, ha="center",
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
