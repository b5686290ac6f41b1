"""The static leaderboard site (issue 23): the results store and the reference tables -> HTML pages.

    <out>/index.html            the leaderboard: our runs (the store's tasks), then LRA Table 1 row for row
    <out>/runs.html             every run record in the store, each linked to its page
    <out>/runs/<run id>.html    one run: config, provenance, device, speed, memory, learning curve, error
    <out>/variants/<name>.html  one variant: paper, forms, its runs, its bench rows
    <out>/figures.html          accuracy vs speed, speed and memory vs length, learning curves (inline SVG)
    <out>/static/               the stylesheet and the sort/filter script (copied from the package)

Rows and cells are lra_bench/leaderboard.py's (`leaderboard_rows`), so the site shows exactly the
numbers of the Markdown table. Pages are plain HTML with real table markup: they read without
JavaScript, print, and open from the file system; the script only sorts and filters. Nothing is
fetched when a page is viewed (the only external links are W&B runs and papers, never loaded).
"""

from __future__ import annotations

import re
import shutil
import statistics
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2
import yaml

from ..catalog import variants as catalog_variants
from ..leaderboard import GROUP_TITLES, GROUPS, LRA_TASKS, Row, leaderboard_rows
from ..results import BenchRecord, RunRecord, load_records
from . import charts

FAILURE_STATUSES = {"failed": "FAIL", "oom": "OOM", "diverged": "DIVERGED", "published_fail": "FAIL"}
GROUP_LABELS = {"lra_table1": "LRA Table 1", "seeds": "Seed papers", "other_ours": "Ours (other)",
                "top_of_lra": "Top of LRA", "pytorch_rerun": "PyTorch re-runs"}
ERROR_TAIL_LINES = 25


def page_name(run_id: str) -> str:
    """The file name of a run's page: the run id with anything but letters, digits, '.', '_', '-' as '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + ".html"


def memory_label(counter: str | None) -> str:
    """What a memory figure counts, in two words (the full counter name goes in the hover text)."""
    if not counter:
        return "counter unknown"
    if counter.startswith("cuda"):
        return "CUDA allocator peak"
    if counter.startswith("process_peak_rss"):
        return "process RSS peak"
    return counter


def mib(value: float | None) -> str:
    return "" if value is None else f"{value / 2**20:,.0f} MiB"


# -- table views ----------------------------------------------------------------------------------

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


def _cell_view(cell, run_pages: dict[str, str], prefix: str) -> CellView:
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
    links = [(f"seed run {i + 1}", prefix + run_pages[rid]) for i, rid in enumerate(cell.run_ids) if rid in run_pages]
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


def row_views(rows: list[Row], forms: dict[str, list[str]], run_pages: dict[str, str], variant_pages: set[str],
              prefix: str = "") -> list[RowView]:
    views = []
    for order, row in enumerate(rows):
        href = f"{prefix}variants/{row.attention}.html" if row.attention in variant_pages else None
        counter = memory_label(row.memory_counter) if row.memory_bytes is not None else ""
        views.append(RowView(
            model=row.model, href=href, origin=row.origin, group=row.group,
            group_label=GROUP_LABELS.get(row.group, row.group) + (" (ours)" if row.origin == "ours" else ""),
            order=order, source=row.source, forms=" ".join(forms.get(row.attention or "", [])),
            statuses=_row_statuses(row), cells=[_cell_view(c, run_pages, prefix) for c in row.cells.values()],
            avg="" if row.avg is None else f"{row.avg:.2f}",
            speed=_plain("" if row.throughput is None else f"{row.throughput:,.0f}",
                         "" if row.throughput is None else f"{row.throughput:.6f}", "train examples/s, median"),
            memory=_plain(mib(row.memory_bytes) + (f" ({counter})" if counter else ""),
                          "" if row.memory_bytes is None else f"{row.memory_bytes:.0f}", row.memory_counter or "")))
    return views


# -- per-run and per-variant data -----------------------------------------------------------------

def wandb_link(record: RunRecord) -> tuple[str | None, str]:
    """(URL of the run on wandb.ai or None, a line saying what there is)."""
    info = record.raw.get("wandb") or {}
    path, mode = info.get("path"), info.get("mode")
    if not path or mode in (None, "off", "disabled"):
        return None, "no W&B run (logger off)"
    if mode == "offline":
        return None, f"offline W&B run {path} in {info.get('dir') or 'the run folder'}: upload it with lra-bench sync"
    parts = str(path).split("/")
    if len(parts) == 3:
        entity, project, run = parts
        return f"https://wandb.ai/{entity}/{project}/runs/{run}", f"W&B run {path}"
    return None, f"W&B run {path}"


def learning_curves(record: RunRecord) -> tuple[str, str]:
    """(validation accuracy, train loss) charts of one run's history; empty strings without history."""
    history = [h for h in record.history if isinstance(h, dict) and "step" in h]
    accuracy = charts.Series("val accuracy", [
        charts.Point(h["step"], 100 * h["val_accuracy"], f"step {h['step']}: val accuracy {100 * h['val_accuracy']:.2f}%")
        for h in history if h.get("val_accuracy") is not None])
    curve = [c for c in record.raw.get("loss_curve") or [] if isinstance(c, list) and len(c) == 2]
    loss = charts.Series("train loss", [charts.Point(s, v, f"step {s}: train loss {v:.4f}") for s, v in curve] or [
        charts.Point(h["step"], h["train_loss"], f"step {h['step']}: train loss {h['train_loss']:.4f}")
        for h in history if h.get("train_loss") is not None])
    return (charts.line_chart([accuracy], "Validation accuracy during training", "step", "val accuracy (%)"),
            charts.line_chart([loss], "Train loss during training", "step", "train loss"))


@dataclass
class RunView:
    record: RunRecord
    page: str
    config_yaml: str
    wandb_url: str | None
    wandb_text: str
    accuracy_chart: str
    loss_chart: str
    error_tail: str
    memory: str
    facts: list[tuple[str, str]] = field(default_factory=list)


def run_view(record: RunRecord, page: str) -> RunView:
    raw, code, throughput = record.raw, record.raw.get("code") or {}, record.throughput
    url, wandb_text = wandb_link(record)
    accuracy, loss = learning_curves(record)
    error = "\n".join(str(raw.get("traceback") or record.error or "").rstrip().splitlines()[-ERROR_TAIL_LINES:])
    counter = throughput.get("peak_memory_counter")
    memory = (f"{mib(throughput.get('peak_memory_bytes'))} ({memory_label(counter)}; counter: {counter})"
              if throughput.get("peak_memory_bytes") is not None else "not measured")
    metrics = record.metrics

    def percent(key):
        return f"{100 * metrics[key]:.2f}%" if isinstance(metrics.get(key), (int, float)) else ""

    def rate(key, unit):
        return f"{throughput[key]:,.1f} {unit}" if isinstance(throughput.get(key), (int, float)) else ""

    git = code.get("git_commit") or ""
    facts = [("status", record.status or "unknown"), ("task", record.task or ""), ("attention", record.attention or ""),
             ("seed", str(record.seed)), ("test accuracy", percent("test_accuracy")),
             ("best validation accuracy", percent("best_val_accuracy") + (
                 f" at step {metrics['best_val_step']}" if "best_val_step" in metrics else "")),
             ("chance accuracy", percent("chance_accuracy")),
             ("stuck at chance", "yes" if metrics.get("stuck_at_chance") else ("no" if metrics else "")),
             ("steps", "" if record.steps is None else str(record.steps)),
             ("parameters", "" if record.num_parameters is None else f"{record.num_parameters:,}"),
             ("code hash", record.code_hash or "not recorded"), ("config hash", record.config_hash),
             ("setup hash (config without seed)", record.setup_hash),
             ("variant source hash", code.get("variant_source_hash") or ""),
             ("package version", code.get("package_version") or ""),
             ("git commit", git + (" (uncommitted changes)" if code.get("git_dirty") else "") if git else "not recorded"),
             ("device", str(raw.get("device") or "not recorded")), ("host", str(raw.get("host") or "")),
             ("train throughput", rate("train_examples_per_s", "examples/s")),
             ("train tokens", rate("train_tokens_per_s", "tokens/s")),
             ("eval throughput", rate("eval_examples_per_s", "examples/s")),
             ("precision", str(throughput.get("precision") or "")), ("peak memory", memory),
             ("started", str(raw.get("started_at") or "")), ("finished", record.finished_at),
             ("wall time", f"{raw['wall_seconds']:.1f} s" if isinstance(raw.get("wall_seconds"), (int, float)) else ""),
             ("software", ", ".join(f"{k} {v}" for k, v in (raw.get("software") or {}).items() if v))]
    config = raw.get("config")
    return RunView(record, page, yaml.safe_dump(config, sort_keys=False) if config else "", url, wandb_text,
                   accuracy, loss, error if record.status != "ok" else "", memory,
                   [(k, v) for k, v in facts if v])


BENCH_COLUMNS = ["mode", "form", "length", "status", "ms", "iqr_ms", "peak_bytes", "time_vs_softmax",
                 "memory_vs_softmax"]


def bench_rows(bench: list[BenchRecord], attention: str) -> list[dict]:
    """The variant's rows of every bench record, newest record first, with the record's device and id."""
    rows = []
    for record in sorted(bench, key=lambda r: r.finished_at, reverse=True):
        for row in record.rows:
            if row.get("attention") != attention:
                continue
            shown = {k: row.get(k) for k in BENCH_COLUMNS}
            shown["peak_bytes"] = mib(row["peak_bytes"]) if isinstance(row.get("peak_bytes"), (int, float)) else ""
            for key in ("ms", "iqr_ms", "time_vs_softmax", "memory_vs_softmax"):
                if isinstance(shown[key], float):
                    shown[key] = f"{shown[key]:.2f}"
            rows.append({**{k: "" if v is None else v for k, v in shown.items()}, "device": record.device,
                         "record": record.run_id})
    return rows


# -- figures ----------------------------------------------------------------------------------------

def accuracy_vs_speed(runs: list[RunRecord], rows: list[Row]) -> str:
    """One point per shown cell with a number: x train examples/s (median over its seeds), y accuracy,
    area peak memory; a series per task."""
    by_id = {r.run_id: r for r in runs}
    series: dict[str, charts.Series] = {}
    for row in rows:
        for cell in row.cells.values():
            if cell.mean is None or not cell.run_ids:
                continue
            speeds = [by_id[i].throughput.get("train_examples_per_s") for i in cell.run_ids if i in by_id]
            speeds = [s for s in speeds if isinstance(s, (int, float)) and s > 0]
            memory = [by_id[i].throughput.get("peak_memory_bytes") for i in cell.run_ids if i in by_id]
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
    layer = [r for r in bench if any(row.get("mode") == "train" for row in r.rows)]
    if not layer:
        return "", ""
    latest = max(layer, key=lambda r: r.finished_at)
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
    """Per task, validation accuracy against step of each shown cell's first seed."""
    by_id = {r.run_id: r for r in runs}
    per_task: dict[str, list[charts.Series]] = {}
    for row in rows:
        for cell in row.cells.values():
            record = by_id.get(cell.run_ids[0]) if cell.run_ids else None
            if record is None or not record.history:
                continue
            points = [charts.Point(h["step"], 100 * h["val_accuracy"],
                                   f"{row.model}, step {h['step']}: val accuracy {100 * h['val_accuracy']:.2f}%")
                      for h in record.history if isinstance(h, dict) and h.get("val_accuracy") is not None]
            per_task.setdefault(cell.task, []).append(charts.Series(row.model, points))
    return {task: charts.line_chart(series, f"Validation accuracy during training on {task}", "step",
                                    "val accuracy (%)") for task, series in sorted(per_task.items())}


# -- the site -------------------------------------------------------------------------------------

def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("lra_bench.site", "templates"),
                              autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def chance_by_task(runs: list[RunRecord], tasks: list[str]) -> list[str]:
    chance = {}
    for r in runs:
        value = r.metrics.get("chance_accuracy")
        if r.task in tasks and isinstance(value, (int, float)):
            chance[r.task] = max(chance.get(r.task, 0.0), 100 * value)
    return [f"{chance[t]:.2f}" if t in chance else "" for t in tasks]


def build_site(store: Path, out: Path, reference_dir: Path | None = None, published: bool = True,
               on_skip=None) -> Path:
    """Write the site for the records in `store` under `out` (replacing a previous one); return index.html.
    `reference_dir`: reference.csv and reference_more.csv (default: the package's); `published=False`
    leaves the published rows out."""
    records = load_records(store, on_skip)
    runs = [r for r in records if isinstance(r, RunRecord)]
    bench = [r for r in records if isinstance(r, BenchRecord)]
    store_tasks = sorted({r.task for r in runs if r.task})
    lra_rows = [r for r in leaderboard_rows(records, reference_dir) if published or r.origin == "ours"]
    own_rows = [r for r in leaderboard_rows(records, reference_dir, tasks=store_tasks)
                if r.origin == "ours" and any(c.run_ids for c in r.cells.values())] if store_tasks else []

    catalog = {v.name: v for v in catalog_variants()}
    forms = {name: list(v.forms) for name, v in catalog.items()}
    for r in runs:  # a variant the catalog does not know (a plugin): the forms its records state
        if r.attention and r.attention not in forms and r.forms:
            forms[r.attention] = list(r.forms)
    names = sorted(set(catalog) | {r.attention for r in runs if r.attention}
                   | {r.attention for r in lra_rows if r.attention})
    run_pages = {r.run_id: page_name(r.run_id) for r in runs}

    if out.exists():
        shutil.rmtree(out)
    (out / "runs").mkdir(parents=True)
    (out / "variants").mkdir()
    static = resources.files("lra_bench.site") / "static"
    (out / "static").mkdir()
    for name in ("site.css", "site.js"):
        (out / "static" / name).write_text(static.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")

    env = _environment()
    common = {"groups": [(g, GROUP_LABELS[g]) for g in GROUPS]}

    def write(path: Path, template: str, root: str, **context):
        path.write_text(env.get_template(template).render(root=root, **common, **context), encoding="utf-8")

    lra_views = row_views(lra_rows, forms, {k: "runs/" + v for k, v in run_pages.items()}, set(names))
    own_views = row_views(own_rows, forms, {k: "runs/" + v for k, v in run_pages.items()}, set(names))
    counters = sorted({r.memory_counter for r in own_rows + lra_rows if r.memory_counter})
    write(out / "index.html", "index.html", "", own_rows=own_views, own_tasks=store_tasks,
          chance=chance_by_task(runs, store_tasks), lra_rows=lra_views, lra_tasks=list(lra_rows[0].cells)
          if lra_rows else LRA_TASKS, group_titles=GROUP_TITLES, counters=[(c, memory_label(c)) for c in counters],
          store=str(store), n_runs=len(runs), n_bench=len(bench))
    write(out / "runs.html", "runs.html", "", runs=sorted(runs, key=lambda r: (r.task or "", r.attention or "",
                                                                                r.seed or 0, r.finished_at)),
          run_pages=run_pages)
    for record in runs:
        write(out / "runs" / run_pages[record.run_id], "run.html", "../", run=run_view(record, run_pages[record.run_id]))
    for name in names:
        info = catalog.get(name)
        write(out / "variants" / f"{name}.html", "variant.html", "../", name=name, info=info,
              forms=forms.get(name, []), runs=[r for r in runs if r.attention == name], run_pages=run_pages,
              bench=bench_rows(bench, name), bench_columns=BENCH_COLUMNS)
    speed, speed_source = scaling(bench, "ms", "ms per step")
    memory, memory_source = scaling(bench, "peak_bytes", "peak MiB", scale=2**-20)
    write(out / "figures.html", "figures.html", "", accuracy_speed=accuracy_vs_speed(runs, own_rows),
          speed=speed, memory=memory, bench_source=speed_source or memory_source,
          curves=curves_by_task(runs, own_rows))
    return out / "index.html"
