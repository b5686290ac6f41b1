"""The static leaderboard site (issue 23): the results store and the reference tables -> HTML pages.

    <out>/index.html            the leaderboard: our runs (the store's tasks), then LRA Table 1 row for row
    <out>/runs.html             every run record in the store, each linked to its page
    <out>/runs/<run id>.html    one run: config, provenance, device, speed, memory, learning curve, error
    <out>/variants/<name>.html  one variant: paper, forms, its runs, its bench rows
    <out>/figures.html          accuracy vs speed, speed and memory vs length, learning curves (inline SVG)
    <out>/static/               the stylesheet and the sort/filter script (copied from the package)

Rows and cells are lra_bench/leaderboard.py's (`leaderboard_rows`), so the site shows exactly the
numbers of the Markdown table; tables.py, pages.py and figures.py turn records into what each page
shows, the Jinja2 templates (templates/) lay it out. Pages are plain HTML with real table markup:
they read without JavaScript, print, and open from the file system; the script only sorts and
filters. Nothing is fetched when a page is viewed (the only external links are W&B runs, never loaded).
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import jinja2

from ..catalog import builtin_variants
from ..leaderboard import GROUP_LABELS, GROUP_TITLES, GROUPS, LRA_TASKS, leaderboard_rows
from ..results import BenchRecord, RunRecord, load_records, memory_counter_label
from .figures import accuracy_vs_speed, curves_by_task, scaling
from .pages import BENCH_COLUMNS, bench_rows, page_name, run_view
from .tables import row_views


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("lra_bench.site", "templates"),
                              autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def chance_by_task(runs: list[RunRecord], tasks: list[str]) -> list[str]:
    """The chance row under our runs' table: per task the majority-class accuracy (%) the records state."""
    chance = {}
    for r in runs:
        value = r.metrics.get("chance_accuracy")
        if r.task in tasks and isinstance(value, (int, float)):
            chance[r.task] = max(chance.get(r.task, 0.0), 100 * value)
    return [f"{chance[t]:.2f}" if t in chance else "" for t in tasks]


def build_site(store: Path, out: Path, reference_dir: Path | None = None, published: bool = True,
               on_skip=None, records: list | None = None) -> Path:
    """Write the site for the records in `store` under `out` (replacing a previous one); return index.html.
    `reference_dir`: reference.csv and reference_more.csv (default: the package's); `published=False`
    leaves the published rows out; `records`: the store's, when the caller has loaded them already."""
    records = load_records(store, on_skip) if records is None else records
    runs = [r for r in records if isinstance(r, RunRecord)]
    bench = [r for r in records if isinstance(r, BenchRecord)]
    store_tasks = sorted({r.task for r in runs if r.task})
    lra_rows = [r for r in leaderboard_rows(records, reference_dir) if published or r.origin == "ours"]
    own_rows = [r for r in leaderboard_rows(records, reference_dir, tasks=store_tasks)
                if r.origin == "ours" and any(c.run_ids for c in r.cells.values())] if store_tasks else []

    # The built-in variants read from their source (no import: the report reads records, never plugins);
    # a plugin's forms are the ones its records state.
    catalog = {v.name: v for v in builtin_variants()}
    forms = {name: list(v.forms) for name, v in catalog.items()}
    for r in runs:
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

    lra_views = row_views(lra_rows, forms, run_pages, set(names))
    own_views = row_views(own_rows, forms, run_pages, set(names))
    counters = sorted({r.memory_counter for r in own_rows + lra_rows if r.memory_counter})
    write(out / "index.html", "index.html", "", own_rows=own_views, own_tasks=store_tasks,
          chance=chance_by_task(runs, store_tasks), lra_rows=lra_views, lra_tasks=list(lra_rows[0].cells)
          if lra_rows else LRA_TASKS, group_titles=GROUP_TITLES,
          counters=[(c, memory_counter_label(c)) for c in counters],
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
