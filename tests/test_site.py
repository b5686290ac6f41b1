"""The static site (issue 23) without a browser: every page parses, every run in the store has one, every
link points at a file the site holds, nothing is fetched from elsewhere, and the numbers are the
leaderboard's. tests/test_site_browser.py drives the same site in Chromium."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

from lra_bench.results import write_record
from lra_bench.site import build_site
from lra_bench.site.build import page_name

CODE_HASH = "c0dec0de"
WANDB_URL = "https://wandb.ai/team/lra-bench/runs/abc123"


def _run(task, attention, seed, acc, status="ok", causal=False, forms=("non-causal", "causal"), speed=900.0,
         when="2026-01-01T00:00:00", chance=0.2, stuck=False):
    """A run record as runner.py writes it (the fields the site shows), for the fixture store."""
    config = {"seed": seed, "task": {"name": task}, "attention": {"name": attention},
              "model": {"causal": causal, "dim": 32}, "trainer": {"max_steps": 30}}
    record = {"kind": "run", "record_version": 2, "run_id": f"{task}__{attention}__s{seed}__cfg0001__c{CODE_HASH}",
              "task": task, "attention": attention, "seed": seed, "status": status, "forms": list(forms),
              "config": config, "code": {"code_hash": CODE_HASH, "variant_source_hash": "5ec0de5ec0de",
                                         "package_version": "0.1.0", "git_commit": "ab" * 20, "git_dirty": False},
              "device": "cpu (x86_64, 1 threads)", "host": "fixture", "started_at": when, "finished_at": when,
              "num_parameters": 1234, "steps": 30, "error": None, "software": {"torch": "2.13.0"},
              "wandb": {"path": "team/lra-bench/abc123", "id": "abc123", "mode": "online", "dir": "/tmp/w"}}
    if status == "ok":
        record.update(metrics={"test_accuracy": acc, "best_val_accuracy": acc, "best_val_step": 30,
                               "chance_accuracy": chance, "stuck_at_chance": stuck},
                      throughput={"train_examples_per_s": speed, "train_tokens_per_s": 40 * speed,
                                  "peak_memory_bytes": 300 * 2**20,
                                  "peak_memory_counter": "process_peak_rss (reset at run start)"},
                      history=[{"step": s, "train_loss": 2.0 / s, "val_accuracy": acc * s / 30, "val_loss": 1.0}
                               for s in (10, 20, 30)],
                      loss_curve=[[s, 2.0 / s] for s in (5, 10, 15, 20, 25, 30)])
    else:
        record.update(error="RuntimeError: out of memory", metrics={}, throughput={},
                      traceback="Traceback (most recent call last):\n  File \"train.py\", line 1\n"
                                "RuntimeError: out of memory", wandb={"path": "lra-bench/x1", "mode": "offline"})
    return record


def write_site_store(store: Path):
    """A small store that has every kind of cell: seeds with an interval, a failure, a run at chance, a
    variant without the causal form, an LRA task beside the published rows, and a bench record."""
    for seed, acc in enumerate((0.40, 0.42, 0.44)):
        write_record(store, _run("listops_small", "softmax", seed, acc, speed=800.0 + seed))
    write_record(store, _run("listops_small", "linear", 0, 0.30, speed=2000.0))
    write_record(store, _run("listops_small", "performer", 0, None, status="oom"))
    write_record(store, _run("listops_small", "local", 0, 0.18, stuck=True, speed=1500.0))
    write_record(store, _run("recall_small", "softmax", 0, 0.90, causal=True))
    write_record(store, _run("recall_small", "cosformer", 0, None, status="failed", causal=True))
    write_record(store, _run("listops_small", "linformer", 0, 0.35, forms=("non-causal",), speed=1800.0))
    write_record(store, _run("listops", "softmax", 0, 0.37))
    rows = [{"attention": a, "length": n, "mode": "train", "form": "non-causal", "status": "ok",
             "ms": ms * n / 256, "iqr_ms": 0.1, "peak_bytes": 2**20 * n / 128, "time_vs_softmax": None,
             "memory_vs_softmax": None} for a, ms in (("softmax", 4.0), ("linear", 2.0)) for n in (256, 512, 1024)]
    write_record(store, {"kind": "bench", "record_version": 2, "run_id": "bench__fixture__20260101T000000",
                         "status": "ok", "device": "cpu (fixture)", "finished_at": "2026-01-01T00:00:00",
                         "settings": {}, "rows": rows, "torch": "2.13.0"})


def test_a_record_the_runner_wrote_gets_its_page(workspace, tmp_path):
    """The fixture records above are hand-written: one trained for real, so the site reads what runner.py writes."""
    from lra_bench.cli import main

    assert main(["train", *workspace.overrides("task=listops_small", "attention=linear")]) == 0
    (record,) = workspace.records()
    index = build_site(workspace.store, tmp_path / "site")
    page = (index.parent / "runs" / page_name(record["run_id"])).read_text()
    assert record["code"]["code_hash"] in page and record["device"] in page and "<svg" in page
    assert f'href="runs/{page_name(record["run_id"])}"' in index.read_text()


class _Page(HTMLParser):
    """Links, sources, ids and table cells of one page; fails on markup that does not close."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "wbr", "source", "col", "area", "base", "embed", "track"}

    def __init__(self):
        super().__init__()
        self.links, self.stack, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append((tag, key, attrs[key]))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append((tag, key, attrs[key]))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert page.stack == [], f"{path}: unclosed {page.stack}"
    return page


def _site(tmp_path) -> Path:
    write_site_store(tmp_path / "runs")
    return build_site(tmp_path / "runs", tmp_path / "site")


def test_every_page_parses_and_every_link_resolves_inside_the_site(tmp_path):
    index = _site(tmp_path)
    root = index.parent
    pages = sorted(root.rglob("*.html"))
    assert len(pages) > 10
    for path in pages:
        page = _parse(path)
        for tag, key, url in page.links:
            parsed = urlparse(url)
            if parsed.scheme:
                assert tag == "a" and key == "href", f"{path}: {tag} {key}={url} would be fetched at view time"
                assert parsed.netloc == "wandb.ai", f"{path}: external {url}"  # a W&B run's page, a link only
                continue
            target = (path.parent / parsed.path).resolve() if parsed.path else path
            assert target.is_file(), f"{path}: {url} points at nothing"


def test_every_run_in_the_store_has_a_page_with_its_code_hash(tmp_path):
    index = _site(tmp_path)
    store = sorted((tmp_path / "runs").glob("*.json"))
    runs = [p.stem for p in store if not p.stem.startswith("bench")]
    assert len(runs) == 10
    for rid in runs:
        page = index.parent / "runs" / page_name(rid)
        text = page.read_text()
        assert rid in text and CODE_HASH in text and "ab" * 20 in text
    failed = (index.parent / "runs" / page_name("listops_small__performer__s0__cfg0001__c" + CODE_HASH)).read_text()
    assert "RuntimeError: out of memory" in failed and "Traceback" in failed and "lra-bench sync" in failed
    ok = (index.parent / "runs" / page_name("listops_small__softmax__s0__cfg0001__c" + CODE_HASH)).read_text()
    assert WANDB_URL in ok and "<svg" in ok and "step 20: val accuracy" in ok and "max_steps: 30" in ok
    assert "process RSS peak" in ok and "300 MiB" in ok


def test_the_leaderboard_holds_the_leaderboards_cells_and_marks_failures(tmp_path):
    index = _site(tmp_path)
    html = index.read_text()
    assert "42.00 ± 2.00 (n=3) [95% ±4.97]" in html  # 40, 42, 44: t(0.975, 2) * 2 / sqrt(3) = 4.97
    assert re.search(r'class="cell cell-oom cell-fail"[^>]*>\s*<span class="mark"[^>]*>✗</span>\s*'
                     r'<a href="runs/[^"]+">OOM</a>', html)
    assert "cell-chance" in html and "18.00 (chance)" in html
    assert "n/a (no causal form)" in html  # linformer on recall_small
    assert "36.37" in html and 'data-origin="published"' in html  # Performer's published ListOps
    assert "<th scope=\"col\"" in html and "<th scope=\"row\"" in html
    # our rows' setting says what the variant is (they sit on CPU presets too), published rows their table
    assert ">LRA baseline (ours)</td>" in html and ">Seed mechanism (ours)</td>" in html
    assert ">LRA Table 1</td>" in html and "Table 1 (ours)" not in html


def test_variant_pages_show_forms_bench_rows_and_say_what_the_store_lacks(tmp_path):
    index = _site(tmp_path)
    linear = (index.parent / "variants" / "linear.html").read_text()
    assert "non-causal, causal" in linear and "bench__fixture__20260101T000000" in linear
    assert "Not in the store" in linear
    figures = (index.parent / "figures.html").read_text()
    assert figures.count("<svg") >= 4 and "softmax at 512 tokens" in figures


def test_a_store_without_records_still_gives_a_site(tmp_path):
    index = build_site(tmp_path / "empty", tmp_path / "site")
    assert "No run records in the store" in index.read_text()
    _parse(index)


def test_report_builds_the_site_beside_the_tables_and_ends_with_its_path(tmp_path, capsys):
    from lra_bench.cli import main

    write_site_store(tmp_path / "runs")
    assert main(["report", "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    index = tmp_path / "out" / "site" / "index.html"
    assert last == f"site (open in a browser): {index.resolve()}" and index.is_file()
    assert (tmp_path / "out" / "leaderboard.md").is_file()
    # --html: the site alone, published rows left out with --reference ''
    assert main(["report", "--store", str(tmp_path / "runs"), "--out", str(tmp_path / "html"), "--html",
                 "--reference", ""]) == 0
    assert not (tmp_path / "html" / "leaderboard.md").exists()
    assert 'data-origin="published"' not in (tmp_path / "html" / "site" / "index.html").read_text()


def test_a_speed_point_is_the_median_of_the_seeds_that_finished(tmp_path):
    from lra_bench.leaderboard import leaderboard_rows
    from lra_bench.results import load_records
    from lra_bench.site.figures import accuracy_vs_speed, curves_by_task

    store = tmp_path / "runs"
    write_record(store, _run("listops_small", "softmax", 1, 0.40, speed=800.0))
    diverged = _run("listops_small", "softmax", 0, None, status="diverged")  # seed 0: the cell's first run id
    diverged["throughput"] = {"train_examples_per_s": 99999.0, "peak_memory_bytes": 9000 * 2**20}  # it trained,
    diverged["history"] = [{"step": 30, "train_loss": 9.0, "val_accuracy": 0.99, "val_loss": 9.0}]  # then failed
    write_record(store, diverged)
    records = load_records(store)
    rows = [r for r in leaderboard_rows(records, tasks=["listops_small"]) if r.origin == "ours"]
    runs = [r for r in records if r.kind == "run"]
    chart = accuracy_vs_speed(runs, rows)
    assert "800 examples/s" in chart and "99,999" not in chart and "50,400" not in chart  # not the two's median
    assert "300" in chart and "9,000" not in chart and "9000" not in chart  # its memory neither
    curve = curves_by_task(runs, rows)["listops_small"]
    assert "40.0" in curve and "99.0" not in curve  # the learning curve: the seed that finished
