"""The report's figures (issue 19, "Plots"): accuracy bars with std error bars, learning curves from the
records' history, speed and memory against length, and accuracy against speed (LRA Figure 3)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .aggregate import FAILURE_MARK  # noqa: E402
from .leaderboard import LRA_AVERAGED  # noqa: E402
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


def _our_accuracy(numeric: pd.DataFrame, attentions: list[str], summary: pd.DataFrame | None):
    """(accuracy per attention, what it is): LRA Table 1's five-task average when every plotted variant has
    all five; else the mean over the tasks that every plotted variant has and none is stuck at chance on;
    else the one task most of them have (variants without it are left out)."""
    if set(LRA_AVERAGED) <= set(numeric.columns):
        lra = numeric.loc[attentions, LRA_AVERAGED].mean(axis=1, skipna=False)
        if lra.notna().all():
            return lra, "LRA average (5 tasks, as Table 1)"
    tasks = [c for c in numeric.columns if c != "avg"]
    if summary is not None:
        stuck = summary[summary.shown & summary.attention.isin(attentions) & summary.stuck.fillna(False).astype(bool)]
        tasks = [t for t in tasks if t not in set(stuck.task)]
    if not tasks:
        return pd.Series(dtype=float), ""
    measured = numeric.loc[attentions, tasks].notna()
    tasks = [t for t in tasks if measured[t].all()] or [measured.sum().idxmax()]
    what = f"{tasks[0]} accuracy" if len(tasks) == 1 else f"mean accuracy over {', '.join(tasks)}"
    return numeric.loc[attentions, tasks].mean(axis=1, skipna=False), what


def _label_points(ax, points: list[tuple[str, float, float, float, str]]):
    """Name each (name, x, y, marker area, colour) point to the right of its marker, moving a label the
    least distance down or up past the markers and labels already there (LRA's points cluster at 5-6x,
    ours near 0-1x on a CPU), so that nothing overlaps."""
    px_per_pt = ax.figure.dpi / 72
    centres = [(*ax.transData.transform((x, y)), area ** 0.5 / 2 * px_per_pt) for _, x, y, area, _ in points]
    taken = [(px - r, py, 2 * r, r) for px, py, r in centres]  # boxes: left, centre y, width, half height
    half = 4.5 * px_per_pt
    for (name, x, y, _, colour), (px, py, r) in sorted(zip(points, centres), key=lambda p: -p[0][2]):
        left, width = px + r + 3 * px_per_pt, 4.3 * len(name) * px_per_pt
        shifts = (sign * 9 * step for step in range(200) for sign in ((1,) if step == 0 else (1, -1)))
        shift = next(s for s in shifts if not any(
            left < bx + bw and bx < left + width and abs(py - s * px_per_pt - by) < bh + half
            for bx, by, bw, bh in taken))
        taken.append((left, py - shift * px_per_pt, width, half))
        ax.annotate(name, (x, y), xytext=(r / px_per_pt + 3, -shift), textcoords="offset points", fontsize=7.5,
                    va="center", color=colour, arrowprops={"arrowstyle": "-", "color": "0.7", "lw": 0.6} if shift else None)


def plot_accuracy_vs_speed(numeric: pd.DataFrame, bench: pd.DataFrame, path: Path,
                           summary: pd.DataFrame | None = None, published: pd.DataFrame | None = None) -> bool:
    """LRA Figure 3's layout: accuracy against speed relative to softmax, memory relative to softmax as the
    marker area (one size key for ours and LRA's), ours filled; LRA's published points (`published`:
    leaderboard.published_points, Table 2 at 4K and Table 1's Avg) hollow, in the same colour as ours.
    Our accuracy is `_our_accuracy`'s (the title says which); a task nobody learned says nothing."""
    train = bench[(bench["mode"] == "train") & (bench.status == "ok")]
    if train.empty or "softmax" not in set(train.attention):
        return False
    length = train[train.attention == "softmax"].length.max()
    at = train[train.length == length].set_index("attention")
    attentions = [a for a in numeric.index if a in at.index and a != "chance"]
    accuracy, what = _our_accuracy(numeric, attentions, summary)
    ours = [(a, accuracy[a], at.loc["softmax", "ms"] / at.loc[a, "ms"], at.loc[a, "peak_bytes"] / at.loc["softmax", "peak_bytes"])
            for a in attentions if a in accuracy.index and pd.notna(accuracy[a])]
    if not ours:
        return False
    lra = [] if published is None else [
        (f"{p.model} (LRA)", p.accuracy, p.speed, p.memory_vs_softmax, p.attention) for p in published.itertuples()]
    fig, ax = plt.subplots(figsize=(8.5, 6))
    biggest = max(p[3] for p in ours + lra)
    styles = _palette(sorted({p[0] for p in ours} | {p[4] for p in lra}))

    def area(memory):
        return 40 + 1200 * memory / biggest

    for name, acc, speed, memory, attention in lra:
        ax.scatter(speed, acc, s=area(memory), facecolors="none", edgecolors=[styles[attention]["color"]], lw=1.5,
                   clip_on=False)
    for name, acc, speed, memory in ours:
        ax.scatter(speed, acc, s=area(memory), alpha=0.6, color=styles[name]["color"], clip_on=False)
    ax.margins(0.15)
    low, high = ax.get_xlim()
    ax.set_xlim(max(low, 0.0), high + 0.3 * (high - low))  # no negative speed; room for labels on the right
    _label_points(ax, [(p[0], p[2], p[1], area(p[3]), "0.3") for p in lra]
                  + [(p[0], p[2], p[1], area(p[3]), "k") for p in ours])
    for fraction in (0.25, 0.5, 1.0):
        ax.scatter([], [], s=area(fraction * biggest), color="0.6", alpha=0.5, label=f"{fraction * biggest:.2g}x")
    ax.scatter([], [], s=120, color="0.4", alpha=0.6, label="ours (filled)")
    if lra:
        ax.scatter([], [], s=120, facecolors="none", edgecolors="0.3", lw=1.5, label="LRA published (hollow)")
    ax.legend(title="memory vs softmax", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, labelspacing=1.5)
    ax.axvline(1.0, color="0.8", lw=1, zorder=0)
    ax.set_xlabel(f"speed relative to softmax\nours: train step of one layer, length {length}, {bench.device.iloc[0]}"
                  + ("; LRA: Table 2, whole model at 4K, TPU v3" if lra else ""))
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"accuracy vs speed (LRA Figure 3 layout). y, ours: {what}"
                 + ("; LRA: Table 1 Avg (5 tasks)" if lra else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # labels pushed below the axes stay in the image
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
