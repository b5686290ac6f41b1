"""LRA Table 1, row for row (issue 22): every published row beside ours, as plain data.

`leaderboard_rows` gives the rows in display order, each a `Row` of `Cell`s (no pandas objects, so the
report, the static site and tests read them directly):
1. `lra_table1`: LRA Table 1's eleven models in the paper's order (Tay et al., ICLR 2021, Table 1),
   each its published row (lra_bench/reference/reference.csv, setting `lra_official`) then ours (always
   present; cells empty, status "missing", when the store has no run).
2. `seeds`: the five seed mechanisms (spec/README.md, attention.md), published rows where
   reference.csv has them (a row with no registered variant, e.g. Combiner-Axial, follows the row of
   the same paper), then ours.
3. `other_ours`: our other variants with a cell in the columns shown (a variant run only on a CPU preset
   such as listops_small has no row here).
4. Context rows of reference_more.csv grouped by their `setting` (`top_of_lra`, `pytorch_rerun`).
Chance rows are left out (the run table shows chance per task).

Our cells are aggregate.py's (records_frame, summarise, cell_text: one setup per cell, never mixed
configs); Avg is the mean over LRA Table 1's five averaged tasks (Path-X failed for every model there),
only when all five have numbers. It is recomputed, also for published rows: it equals LRA's printed Avg
(official README at commit cd31e5c) to 0.01 for ten models; Sinkhorn's printed 51.29 is not the mean of
its five numbers (51.48), which its source column says.

LRA's "Synthesizer" row is `synthesizer_random`: LRA's code runs `synthesizer_mode='random'` with the
dot product kept (`SynthesizerEncoder.apply` defaults; the Image and Pathfinder configs set "random",
the Text config's "factorized_random" never reaches the model), see synthesizer_random.py's docstring;
`synthesizer_dense` is in LRA's code but no LRA config selects it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .aggregate import cell_text, lacks_form, records_frame, summarise
from .errors import ConfigError

LRA_TASKS = ["listops", "text", "retrieval", "image", "pathfinder", "pathx"]
LRA_AVERAGED = LRA_TASKS[:5]
GROUPS = ["lra_table1", "seeds", "other_ours", "top_of_lra", "pytorch_rerun"]
GROUP_TITLES = {
    "lra_table1": "LRA Table 1 (Tay et al., ICLR 2021): each model's published row, ours beneath",
    "seeds": "Seed mechanisms: published LRA numbers where their paper has them, ours beneath",
    "other_ours": "Our other variants",
    "top_of_lra": "Context: top of LRA (not efficient-attention Transformers)",
    "pytorch_rerun": "Context: the softmax Transformer re-run in PyTorch ports (above LRA's own numbers)"}
# LRA Table 1's rows in the paper's order, by registry name.
LRA_TABLE1 = ["softmax", "local", "sparse_transformer", "longformer", "linformer", "reformer", "sinkhorn",
              "synthesizer_random", "bigbird", "linear", "performer"]
SEEDS = ["cosformer", "lln", "latte", "combiner", "elementwise"]
GROUP_LABELS = {"lra_table1": "LRA Table 1", "seeds": "Seed papers", "other_ours": "Ours (other)",
                "top_of_lra": "Top of LRA", "pytorch_rerun": "PyTorch re-runs"}  # LaTeX's group column, the site's setting
REFERENCE_FILES = ("reference.csv", "reference_more.csv")


@dataclass(frozen=True)
class Cell:
    task: str
    text: str  # exactly what the Markdown table prints
    mean: float | None  # percent; None when there is no number
    std: float | None
    n: int  # seeds behind it (0 for published)
    ci95: float | None
    status: str  # ok|failed|oom|diverged|running|missing|n/a|published|published_fail
    stuck_at_chance: bool
    run_ids: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    model: str
    attention: str | None
    origin: str  # "ours" | "published"
    group: str  # one of GROUPS
    source: str
    cells: dict[str, Cell]
    avg: float | None
    throughput: float | None
    memory_bytes: float | None
    memory_counter: str | None


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def load_reference(path: Path) -> pd.DataFrame:
    """A reference CSV as strings (accuracy may be FAIL); empty when the file is absent."""
    return pd.read_csv(path, dtype={"accuracy": str}, keep_default_na=False) if Path(path).is_file() else pd.DataFrame()


def average(cells: dict[str, Cell]) -> float | None:
    """Mean over LRA Table 1's five averaged tasks; None unless all five have numbers."""
    values = [cells[t].mean if t in cells else None for t in LRA_AVERAGED]
    return None if any(v is None for v in values) else sum(values) / len(values)


def _published_cell(task: str, entry: str | None) -> Cell:
    if entry is None or entry == "":
        return Cell(task, "", None, None, 0, None, "missing", False, ())
    try:
        mean = float(entry)
    except ValueError:
        return Cell(task, entry, None, None, 0, None, "published_fail", False, ())
    return Cell(task, entry, mean, None, 0, None, "published", False, ())


def _published_row(model: str, group: pd.DataFrame, section: str, tasks: list[str]) -> Row:
    entries = dict(zip(group.task, group.accuracy))
    cells = {t: _published_cell(t, entries.get(t)) for t in dict.fromkeys(tasks + LRA_AVERAGED)}
    attention = group.attention.iloc[0] if "attention" in group else ""
    return Row(model, attention or None, "published", section, str(group.source.iloc[0]),
               {t: cells[t] for t in tasks}, average(cells), None, None, None)


class _Ours:
    """Our cells from the store's records, through aggregate.py."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        summary = summarise(frame) if not frame.empty else pd.DataFrame()
        self.shown = summary[summary.shown].set_index(["attention", "task"]) if not summary.empty else summary
        self.causal = frame.groupby("task").causal.any().to_dict() if not frame.empty else {}

    def cell(self, attention: str, task: str) -> Cell:
        if not self.shown.empty and (attention, task) in self.shown.index:
            r = self.shown.loc[(attention, task)]
            ids = self.frame[(self.frame.attention == attention) & (self.frame.task == task)
                             & (self.frame.setup == r.setup)].run_id
            status = r.status if isinstance(r.status, str) else "missing"
            return Cell(task, cell_text(r), _number(r["mean"]), _number(r["std"]), int(r.n), _number(r.ci95),
                        status, bool(r.stuck) if pd.notna(r.stuck) else False, tuple(sorted(ids)))
        if task in self.causal and lacks_form(self.frame, attention, bool(self.causal[task])):
            text = "n/a (no causal form)" if self.causal[task] else "n/a (causal only)"
            return Cell(task, text, None, None, 0, None, "n/a", False, ())
        return Cell(task, "", None, None, 0, None, "missing", False, ())

    def row(self, attention: str, section: str, tasks: list[str]) -> Row:
        cells = {t: self.cell(attention, t) for t in dict.fromkeys(tasks + LRA_AVERAGED)}
        shown = (self.shown.loc[attention].reindex(tasks).dropna(subset=["throughput"])
                 if not self.shown.empty and attention in self.shown.index.get_level_values(0) else pd.DataFrame())
        throughput = _number(shown.throughput.median()) if not shown.empty else None
        memory = shown.dropna(subset=["memory"]) if not shown.empty else shown
        biggest = memory.loc[memory.memory.idxmax()] if not memory.empty else None
        return Row(attention, attention, "ours", section, "", {t: cells[t] for t in tasks}, average(cells),
                   throughput, _number(biggest.memory) if biggest is not None else None,
                   biggest.memory_counter if biggest is not None and isinstance(biggest.memory_counter, str) else None)


def rows_from_frame(frame: pd.DataFrame, reference: pd.DataFrame, more: pd.DataFrame,
                    tasks: list[str] | None = None, more_name: str = "reference_more.csv") -> list[Row]:
    """`leaderboard_rows` from a records frame (aggregate.records_frame) and the two reference tables."""
    tasks = list(tasks or LRA_TASKS)
    ours = _Ours(frame)
    published = reference[reference.setting != "chance"] if not reference.empty else reference
    if not published.empty:
        published = published.assign(attention=published.attention.fillna("").astype(str))
    tables = {} if published.empty else {
        (model, setting): group for (model, setting), group in published.groupby(["model", "setting"], sort=False)}
    rows: list[Row] = []

    def pair(attention: str, section: str):
        own = [key for key, group in tables.items() if group.attention.iloc[0] == attention]
        own.sort(key=lambda key: key[1] != "lra_official")
        for key in own:
            rows.append(_published_row(key[0], tables.pop(key), section, tasks))
            if section != "lra_table1":  # the same paper's rows with no registered variant (Combiner-Axial)
                for other in [k for k, g in tables.items() if k[1] == key[1] and g.attention.iloc[0] == ""]:
                    rows.append(_published_row(other[0], tables.pop(other), section, tasks))
        rows.append(ours.row(attention, section, tasks))

    for attention in LRA_TABLE1:
        pair(attention, "lra_table1")
    for attention in SEEDS:
        pair(attention, "seeds")
    stored = sorted(set(frame.attention)) if not frame.empty else []
    for attention in [a for a in stored if a not in LRA_TABLE1 + SEEDS]:
        pair(attention, "other_ours")
    for (model, _), group in list(tables.items()):  # published rows with no place above: never dropped
        rows.append(_published_row(model, group, "other_ours", tasks))
    if not more.empty:
        unknown = sorted(set(more.setting) - set(GROUPS))
        if unknown:
            raise ConfigError(f"{more_name}: setting '{unknown[0]}' is not a leaderboard group; expected one of "
                              f"{', '.join(GROUPS[3:])}")
        for section in GROUPS[3:]:
            for model, group in more[more.setting == section].groupby("model", sort=False):
                rows.append(_published_row(model, group, section, tasks))
    return [r for r in rows if (r.origin == "ours" and r.group != "other_ours")
            or any(c.text for c in r.cells.values())]


def leaderboard_rows(records: list, reference_dir: Path | None = None, tasks: list[str] | None = None) -> list[Row]:
    """The leaderboard's rows in display order (see the module docstring). `records`: what
    results.load_records returns; `reference_dir`: the folder with reference.csv and reference_more.csv
    (default: the package's lra_bench/reference); `tasks`: the columns (default LRA_TASKS)."""
    if reference_dir is None:
        from .config import REFERENCE_DIR

        reference_dir = REFERENCE_DIR
    reference, more = (load_reference(Path(reference_dir) / name) for name in REFERENCE_FILES)
    return rows_from_frame(records_frame(records), reference, more, tasks, str(Path(reference_dir) / REFERENCE_FILES[1]))


def published_points(rows: list[Row], speed_reference: pd.DataFrame, length: int = 4096) -> pd.DataFrame:
    """LRA Figure 3's published points: per LRA Table 1 model with a Table 2 entry at `length` (4K, as the
    figure), its speed and memory relative to the Transformer's there, and its Table 1 Avg."""
    columns = ["model", "attention", "speed", "memory_vs_softmax", "accuracy"]
    if speed_reference.empty or "attention" not in speed_reference:
        return pd.DataFrame(columns=columns)
    at = speed_reference[speed_reference.length.astype(int) == length].set_index("attention")
    if "softmax" not in at.index:
        return pd.DataFrame(columns=columns)
    points = [{"model": r.model, "attention": r.attention, "speed": float(at.loc[r.attention, "relative_speed"]),
               "memory_vs_softmax": float(at.loc[r.attention, "memory_gb"]) / float(at.loc["softmax", "memory_gb"]),
               "accuracy": r.avg} for r in rows
              if r.group == "lra_table1" and r.origin == "published" and r.avg is not None and r.attention in at.index]
    return pd.DataFrame(points, columns=columns)


def rows_frame(rows: list[Row]) -> pd.DataFrame:
    """The rows as one table of strings and Avg: model, attention, origin, group, source, a column per
    task (the cell's text), avg (2 decimals; NaN when absent). What leaderboard_lra.csv holds."""
    tasks = list(rows[0].cells) if rows else LRA_TASKS
    return pd.DataFrame([{"model": r.model, "attention": r.attention or "", "origin": r.origin, "group": r.group,
                          "source": r.source, **{t: r.cells[t].text for t in tasks},
                          "avg": round(r.avg, 2) if r.avg is not None else math.nan} for r in rows],
                        columns=["model", "attention", "origin", "group", "source", *tasks, "avg"])


def read_rows_csv(path: Path) -> pd.DataFrame:
    """leaderboard_lra.csv as written (cells as strings, avg as a number)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["avg"] = pd.to_numeric(frame.avg.replace("", math.nan))
    return frame


def rows_markdown(rows: list[Row]) -> str:
    """One table per group under its title; a published row carries its source, ours reads "<name> (ours)"
    (so no row of this section shares its first column with a row of the runs table above)."""
    table = rows_frame(rows)
    table["avg"] = table.avg.map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    table["model"] = [f"{m} (ours)" if o == "ours" else m for m, o in zip(table.model, table.origin)]
    table = table[[c for c in table.columns if c != "source"] + ["source"]]
    parts = []
    for group in [g for g in GROUPS if g in set(table.group)]:
        part = table[table.group == group].drop(columns=["group", "attention", "origin"])
        parts.append(f"### {GROUP_TITLES[group]}\n\n" + part.to_markdown(index=False, disable_numparse=True))
    return "\n\n".join(parts)


def _latex_cell(cell: Cell) -> str:
    if cell.mean is None:
        return cell.text or "--"
    return f"{cell.mean:.2f}" + (f" $\\pm$ {cell.std:.2f}" if cell.n > 1 and cell.std is not None else "")


def rows_latex(rows: list[Row]) -> str:
    """The rows as one booktabs table through pandas' Styler, a \\midrule between groups, the group's
    name on its first row; ours as mean $\\pm$ std over seeds."""
    tasks = list(rows[0].cells) if rows else LRA_TASKS
    starts = {i for i, r in enumerate(rows) if i == 0 or r.group != rows[i - 1].group}
    table = pd.DataFrame([{"group": GROUP_LABELS[r.group] if i in starts else "", "model": r.model,
                           "origin": r.origin, **{t: _latex_cell(r.cells[t]) for t in tasks},
                           "avg": f"{r.avg:.2f}" if r.avg is not None else "--"} for i, r in enumerate(rows)])
    styler = table.style.hide(axis="index").format(escape="latex", subset=["group", "model", "origin"])
    latex = styler.to_latex(hrules=True, column_format="lll" + "r" * (len(tasks) + 1),
                            caption="LRA Table 1 row for row: published rows (sources in leaderboard\\_lra.csv) "
                                    "and ours (test accuracy, \\%, mean $\\pm$ std over seeds); avg over the "
                                    "five tasks LRA averages", label="tab:lra-table1", position_float="centering")
    lines = latex.splitlines()
    first_row = lines.index("\\midrule") + 1
    for offset, i in enumerate(sorted(starts - {0})):
        lines.insert(first_row + i + offset, "\\midrule")
    return "\n".join(lines) + "\n"
