"""The index page's leaderboard tables: each leaderboard.py `Row` as what a table row shows (text, the
value it sorts on, failure marks, links to the runs behind a cell and to the variant's page) and the
tokens the filters match (origin, group, forms, status)."""

from __future__ import annotations

from dataclasses import dataclass

from ..aggregate import FAILURE_MARK
from ..leaderboard import GROUP_LABELS, Row
from ..results import memory_counter_label
from .pages import mib

FAILURE_STATUSES = frozenset(FAILURE_MARK) - {"running"} | {"published_fail"}  # cells shown as FAIL / OOM / DIVERGED
# Our rows' setting names what the variant is, not a table it is in (ours sit on any task, CPU presets too).
OURS_LABELS = {"lra_table1": "LRA baseline (ours)", "seeds": "Seed mechanism (ours)", "other_ours": "Ours (other)"}


@dataclass
class CellView:
    task: str
    text: str
    sort: str  # the number sorted on ("" sorts last)
    css: str
    mark: str  # a visible word for failures and chance, besides the colour
    title: str
    links: list[tuple[str, str]]  # (label, href) of the runs behind the cell


@dataclass
class RowView:
    model: str
    href: str | None
    origin: str
    group: str
    group_label: str
    order: int
    source: str
    forms: str
    statuses: str
    cells: list[CellView]
    avg: str
    speed: CellView
    memory: CellView


def _cell_view(cell, run_pages: dict[str, str]) -> CellView:
    status = cell.status
    css = [f"cell-{status.replace('_', '-')}"]
    mark = ""
    if status in FAILURE_STATUSES:
        css.append("cell-fail")
        mark = "\u2717"  # the text itself says FAIL / OOM / DIVERGED; the mark makes it stand out in print
    elif cell.stuck_at_chance:
        css.append("cell-chance")
        mark = "\u26a0"
    text = cell.text or ("no run" if status == "missing" else "")
    title = {"missing": "no run in the store", "published": "published number",
             "running": "a run is in progress"}.get(status, status)
    if cell.stuck_at_chance:
        title = "best validation accuracy stayed at chance"
    links = [(f"seed run {i + 1}", "runs/" + run_pages[rid]) for i, rid in enumerate(cell.run_ids) if rid in run_pages]
    return CellView(cell.task, text, "" if cell.mean is None else f"{cell.mean:.6f}", " ".join(css), mark, title, links)


def _plain(text: str, sort: str, title: str = "") -> CellView:
    return CellView("", text, sort, "", "", title, [])


def _row_statuses(row: Row) -> str:
    """Tokens the status filter matches: ok (a number), failure (FAIL/OOM/DIVERGED/chance), missing (none)."""
    cells = list(row.cells.values())
    tokens = set()
    if any(c.mean is not None for c in cells):
        tokens.add("ok")
    if any(c.status in FAILURE_STATUSES or c.stuck_at_chance for c in cells):
        tokens.add("failure")
    if all(c.status in ("missing", "n/a") for c in cells):
        tokens.add("missing")
    return " ".join(sorted(tokens))


def row_views(rows: list[Row], forms: dict[str, list[str]], run_pages: dict[str, str],
              variant_pages: set[str]) -> list[RowView]:
    """What the index page's tables show of each row (links relative to the site's root)."""
    views = []
    for order, row in enumerate(rows):
        href = f"variants/{row.attention}.html" if row.attention in variant_pages else None
        counter = memory_counter_label(row.memory_counter) if row.memory_bytes is not None else ""
        views.append(RowView(
            model=row.model, href=href, origin=row.origin, group=row.group,
            group_label=OURS_LABELS[row.group] if row.origin == "ours" else GROUP_LABELS.get(row.group, row.group),
            order=order, source=row.source, forms=" ".join(forms.get(row.attention or "", [])),
            statuses=_row_statuses(row), cells=[_cell_view(c, run_pages) for c in row.cells.values()],
            avg="" if row.avg is None else f"{row.avg:.2f}",
            speed=_plain("" if row.throughput is None else f"{row.throughput:,.0f}",
                         "" if row.throughput is None else f"{row.throughput:.6f}", "train examples/s, median"),
            memory=_plain(mib(row.memory_bytes) + (f" ({counter})" if counter else ""),
                          "" if row.memory_bytes is None else f"{row.memory_bytes:.0f}", row.memory_counter or "")))
    return views
