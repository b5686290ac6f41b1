"""Records -> per-cell statistics for the leaderboard (issue 19, "Aggregation").

Per (task, attention, seed, setup) the latest record counts, where a setup is the config without its
seed plus the code hash (results.setup_hash, provenance.code_identity); seeds of one setup are then
summarised: mean, std, n, and a 95% t-interval from 3 seeds. Records of different setups are never
averaged. A paired difference to softmax on the same seeds is computed where both exist.
"""

from __future__ import annotations

import pandas as pd

from .results import RunRecord, parse_record

FAILURE_MARK = {"failed": "FAIL", "oom": "OOM", "diverged": "DIVERGED", "running": "RUNNING"}


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


def cell_text(row) -> str:
    """A leaderboard cell: mean ± std (n) [95% interval], (chance), †k configs; or the failure mark."""
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


def lacks_form(frame: pd.DataFrame, attention: str, causal: bool) -> bool:
    """Whether the variant's records say it has no such form (records that cannot say: no)."""
    said = frame.loc[frame.attention == attention, "has_causal" if causal else "has_non_causal"].dropna()
    return not said.empty and not bool(said.iloc[-1])


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
