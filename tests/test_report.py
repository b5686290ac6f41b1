"""The report's table holds exactly the numbers of the records it read; failures are visible."""

import pandas as pd
import pytest

from lra_bench.report import write_report
from lra_bench.results import write_record


def _record(attention, task, seed, acc, status="ok", chance=0.2, when="2026-01-01T00:00:00"):
    metrics = {"test_accuracy": acc, "chance_accuracy": chance, "stuck_at_chance": acc <= chance} if acc else {}
    return {"run_id": f"{task}__{attention}__s{seed}", "task": task, "attention": attention, "seed": seed,
            "status": status, "metrics": metrics, "num_parameters": 1234, "finished_at": when,
            "error": None if status == "ok" else "RuntimeError: boom"}


def test_table_holds_the_records_numbers(tmp_path):
    store = tmp_path / "runs"
    write_record(store, _record("softmax", "listops_small", 0, 0.40))
    write_record(store, _record("softmax", "listops_small", 1, 0.30))
    write_record(store, _record("linear", "listops_small", 0, 0.25))
    write_record(store, _record("softmax", "text_small", 0, 0.60))
    write_record(store, _record("linear", "text_small", 0, None, status="oom"))
    write_record(store, _record("weird", "text_small", 0, 0.10))
    markdown, paths = write_report(store, tmp_path / "out")
    assert [p.name for p in paths] == ["leaderboard.md", "leaderboard.csv", "leaderboard.tex", "leaderboard.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert "\\begin{tabular}" in paths[2].read_text() and "35.00" in paths[2].read_text()
    table = pd.read_csv(paths[1], index_col="attention")
    assert table.loc["softmax", "listops_small"] == pytest.approx(35.0)
    assert table.loc["linear", "listops_small"] == pytest.approx(25.0)
    assert table.loc["softmax", "avg"] == pytest.approx((35.0 + 60.0) / 2)
    assert pd.isna(table.loc["linear", "text_small"]), "a failed run must never become a number"
    assert table.loc["chance", "listops_small"] == pytest.approx(20.0)
    assert "35.00 ± 7.07 (n=2)" in markdown
    assert "OOM" in markdown and "RuntimeError: boom" in markdown
    assert "10.00 (chance)" in markdown
    assert list(table.index)[:1] == ["softmax"] and list(table.index)[-1] == "chance"


def test_latest_record_per_seed_wins(tmp_path):
    store = tmp_path / "runs"
    old = _record("softmax", "t", 0, 0.10, when="2026-01-01")
    new = dict(_record("softmax", "t", 0, 0.50, when="2026-02-01"), run_id="t__softmax__s0__new")
    write_record(store, old)
    write_record(store, new)
    _, paths = write_report(store, tmp_path)
    assert pd.read_csv(paths[1], index_col="attention").loc["softmax", "t"] == pytest.approx(50.0)


def test_empty_store_says_what_to_run(tmp_path):
    markdown, paths = write_report(tmp_path / "nothing", tmp_path)
    assert "lra-bench sweep" in markdown and paths == []


def test_published_rows_sit_beside_ours_on_lra_tasks(tmp_path):
    from lra_bench.config import REFERENCE_DIR

    store = tmp_path / "runs"
    write_record(store, _record("softmax", "listops", 0, 0.37))
    write_record(store, _record("softmax", "listops", 1, 0.35))
    write_record(store, _record("linear", "text", 0, None, status="diverged"))
    write_record(store, _record("softmax", "listops_small", 0, 0.30))
    markdown, paths = write_report(store, tmp_path / "out", REFERENCE_DIR / "reference.csv")
    published = pd.read_csv(tmp_path / "out" / "leaderboard_published.csv", index_col="model", dtype=str)
    row = published.loc["Transformer (published: LRA paper Table 1)"]
    assert row["listops"] == "36.37" and row["pathx"] == "FAIL" and row["avg"] == "54.39"
    assert published.loc["softmax (ours)", "listops"] == "36.00 ± 1.41 (n=2)"
    assert published.loc["linear (ours)", "text"] == "DIVERGED"
    assert "listops_small" not in published.columns
    assert "Combiner-Fixed (published: Combiner paper (Ren et al. NeurIPS 2021) Table 4)" in markdown


def test_parameter_budget_is_flagged(tmp_path):
    store = tmp_path / "runs"
    write_record(store, _record("softmax", "t", 0, 0.4))
    write_record(store, dict(_record("linformer", "t", 0, 0.4), num_parameters=2000))
    markdown, _ = write_report(store, tmp_path)
    assert "2,000 (>10% over softmax)" in markdown and "1,234 (>" not in markdown


def test_bench_records_become_scaling_plots(tmp_path):
    from lra_bench.bench.layer import BenchSettings, run_bench

    store = tmp_path / "runs"
    write_record(store, _record("softmax", "t", 0, 0.4))
    write_record(store, _record("linear", "t", 0, 0.35))
    run_bench(["softmax", "linear"], BenchSettings(lengths=(64, 128), batch=1, dim=32, num_heads=2, repeats=1),
              str(store), progress=lambda *_: None)
    _, paths = write_report(store, tmp_path / "out")
    names = [p.name for p in paths]
    assert {"speed_vs_length.png", "memory_vs_length.png", "accuracy_vs_speed.png"} <= set(names)


def test_causal_task_says_why_a_non_causal_variant_has_no_cell(tmp_path):
    store = tmp_path / "runs"
    write_record(store, dict(_record("softmax", "recall", 0, 0.3), config={"model": {"causal": True}}))
    write_record(store, _record("linformer", "listops", 0, 0.3))
    markdown, _ = write_report(store, tmp_path)
    row = next(line for line in markdown.splitlines() if line.startswith("| linformer"))
    assert "n/a (no causal form)" in row
    write_record(store, dict(_record("combiner_mixture", "recall", 0, 0.3), config={"model": {"causal": True}}))
    markdown, _ = write_report(store, tmp_path)
    row = next(line for line in markdown.splitlines() if line.startswith("| combiner_mixture"))
    assert "n/a (causal only)" in row  # listops is non-causal; the variant has no such form


def test_a_variant_the_report_process_does_not_know_gets_its_forms_from_its_records(tmp_path):
    store = tmp_path / "runs"
    write_record(store, dict(_record("softmax", "recall", 0, 0.3), config={"model": {"causal": True}}))
    write_record(store, dict(_record("plugin_only", "listops", 0, 0.3), forms=["non-causal"]))
    markdown, _ = write_report(store, tmp_path)
    row = next(line for line in markdown.splitlines() if line.startswith("| plugin_only"))
    assert "n/a (no causal form)" in row


def test_speed_plots_take_only_the_non_causal_rows_of_a_check_record(tmp_path):
    from lra_bench.report import latest_bench

    rows = [{"attention": "linear", "length": 64, "mode": "train", "status": "ok", "ms": ms, "peak_bytes": 1,
             "form": form} for form, ms in (("non-causal", 1.0), ("causal", 9.0))]
    bench = latest_bench([{"run_id": "b", "kind": "bench", "finished_at": "x", "device": "cpu", "rows": rows}])
    assert list(bench.ms) == [1.0]
