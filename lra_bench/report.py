"""The leaderboard: records in the store -> one row per attention, one column per task (LRA Table 1).

Per (task, attention, seed) the latest record counts; seeds are then averaged (mean +- std, n).
A cell with no successful run shows the failure (FAIL / OOM / DIVERGED / RUNNING), never a zero
(lessons.md: xformers' collector filled missing runs with zeros). A run whose best validation
accuracy stayed at chance is marked `(chance)`. A `chance` row gives the majority-class rate.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .results import read_records  # noqa: E402

FAILURE_MARK = {"failed": "FAIL", "oom": "OOM", "diverged": "DIVERGED", "running": "RUNNING"}


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per record with the fields the tables need (accuracies in percent)."""
    rows = []
    for r in records:
        metrics = r.get("metrics") or {}
        rows.append({
            "run_id": r["run_id"], "task": r.get("task"), "attention": r.get("attention"), "seed": r.get("seed"),
            "status": r.get("status"), "finished_at": r.get("finished_at") or r.get("started_at") or "",
            "test_accuracy": 100 * metrics["test_accuracy"] if "test_accuracy" in metrics else float("nan"),
            "chance_accuracy": 100 * metrics["chance_accuracy"] if "chance_accuracy" in metrics else float("nan"),
            "stuck_at_chance": bool(metrics.get("stuck_at_chance", False)),
            "num_parameters": r.get("num_parameters"),
            "train_examples_per_s": (r.get("throughput") or {}).get("train_examples_per_s"),
            "error": r.get("error"),
        })
    frame = pd.DataFrame(rows, columns=["run_id", "task", "attention", "seed", "status", "finished_at",
                                        "test_accuracy", "chance_accuracy", "stuck_at_chance", "num_parameters",
                                        "train_examples_per_s", "error"])
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


def leaderboard(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(display table of strings, numeric table of means), rows = attention + 'chance', cols = tasks + avg."""
    summary = summarise(frame)
    tasks = sorted(frame.task.unique())
    numeric = summary.pivot(index="attention", columns="task", values="mean").reindex(columns=tasks)
    numeric["avg"] = numeric[tasks].mean(axis=1, skipna=False)
    display = summary.assign(cell=summary.apply(_cell, axis=1)).pivot(index="attention", columns="task",
                                                                      values="cell").reindex(columns=tasks)
    display["avg"] = numeric["avg"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    params = frame.groupby("attention").num_parameters.max()
    display["params"] = params.map(lambda p: "" if pd.isna(p) else f"{int(p):,}")
    chance = frame.groupby("task").chance_accuracy.max().reindex(tasks)
    display.loc["chance"] = [*(f"{v:.2f}" if pd.notna(v) else "" for v in chance), "", ""]
    numeric.loc["chance"] = [*chance, float("nan")]
    order = numeric.drop(index="chance")["avg"].sort_values(ascending=False, na_position="last").index.tolist()
    display, numeric = display.reindex(order + ["chance"]), numeric.reindex(order + ["chance"])
    display.index.name = numeric.index.name = "attention"
    return display.fillna("MISSING"), numeric


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


def write_report(store: Path, out: Path) -> tuple[str, list[Path]]:
    """Write leaderboard.md, leaderboard.csv and leaderboard.png under `out`; return (markdown, paths)."""
    records = read_records(store)
    if not records:
        return f"(no records in {store}: run `lra-bench sweep` or `lra-bench train` first)", []
    frame = records_frame(records)
    display, numeric = leaderboard(frame)
    out.mkdir(parents=True, exist_ok=True)
    markdown = display.to_markdown(disable_numparse=True)
    failures = frame[frame.status != "ok"]
    notes = "".join(f"\n- {r.attention} on {r.task} (seed {r.seed}): {r.status}: {r.error}"
                    for r in failures.itertuples())
    paths = [out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.png"]
    paths[0].write_text("# Leaderboard: test accuracy (%) at the best-validation checkpoint\n\n" + markdown + "\n"
                        + (f"\nRuns without a result:{notes}\n" if notes else ""))
    numeric.round(4).to_csv(paths[1])
    plot_bars(numeric, paths[2])
    return markdown + (f"\n\nRuns without a result:{notes}" if notes else ""), paths
