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
    assert [p.name for p in paths] == ["leaderboard.md", "leaderboard.csv", "leaderboard.tex", "leaderboard.png",
                                       "leaderboard_long.csv"]
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
    from lra_bench.leaderboard import read_rows_csv

    store = tmp_path / "runs"
    write_record(store, _record("softmax", "listops", 0, 0.37))
    write_record(store, _record("softmax", "listops", 1, 0.35))
    write_record(store, _record("linear", "text", 0, None, status="diverged"))
    write_record(store, _record("softmax", "listops_small", 0, 0.30))
    markdown, paths = write_report(store, tmp_path / "out", REFERENCE_DIR / "reference.csv")
    assert {"leaderboard_lra.csv", "leaderboard_lra.tex"} <= {p.name for p in paths}
    lra = read_rows_csv(tmp_path / "out" / "leaderboard_lra.csv").set_index(["model", "origin"])
    row = lra.loc[("Transformer", "published")]
    assert row["listops"] == "36.37" and row["pathx"] == "FAIL" and row["avg"] == 54.39
    assert row["source"].startswith("LRA paper Table 1")
    assert lra.loc[("softmax", "ours"), "listops"] == "36.00 ± 1.41 (n=2)"
    assert lra.loc[("linear", "ours"), "text"] == "DIVERGED"
    assert "listops_small" not in lra.columns
    section = markdown.split("## LRA Table 1, row for row")[1]
    combiner = next(line for line in section.splitlines() if line.startswith("| Combiner-Fixed "))
    assert "36.65" in combiner and combiner.rstrip(" |").endswith("Combiner paper (Ren et al. NeurIPS 2021) Table 4")
    assert next(line for line in section.splitlines() if line.startswith("| softmax (ours) ")).count("36.00 ± 1.41") == 1
    assert markdown.count("36.37") == 1, "one table of the published numbers, not two"


def test_parameter_budget_is_flagged(tmp_path):
    store = tmp_path / "runs"
    write_record(store, _record("softmax", "t", 0, 0.4))
    write_record(store, dict(_record("linformer", "t", 0, 0.4), num_parameters=2000))
    markdown, _ = write_report(store, tmp_path)
    assert "2,000 (>10% over softmax)" in markdown and "1,234 (>" not in markdown


def test_bench_records_become_scaling_plots(tmp_path):
    from lra_bench.bench.layer import BenchSettings
    from lra_bench.bench.passes import run_bench

    store = tmp_path / "runs"
    write_record(store, _record("softmax", "t", 0, 0.4))
    write_record(store, _record("linear", "t", 0, 0.35))
    run_bench(["softmax", "linear"], BenchSettings(lengths=(64, 128), batch=1, dim=32, num_heads=2, repeats=1, passes=1),
              str(store), progress=lambda *_: None)
    _, paths = write_report(store, tmp_path / "out")
    names = [p.name for p in paths]
    assert {"speed_vs_length.png", "memory_vs_length.png", "accuracy_vs_speed.png"} <= set(names)


def test_a_bench_before_any_training_run_still_gets_its_plots_and_table(tmp_path):
    from lra_bench.bench.layer import BenchSettings
    from lra_bench.bench.passes import run_bench

    store = tmp_path / "runs"
    assert write_report(store, tmp_path / "none")[1] == []  # an empty store: the one line, nothing written
    run_bench(["softmax", "linear"], BenchSettings(lengths=(64, 128), batch=1, dim=32, num_heads=2, repeats=1, passes=1),
              str(store), progress=lambda *_: None)
    text, paths = write_report(store, tmp_path / "out")
    assert {p.name for p in paths} == {"leaderboard.md", "speed_vs_length.png", "memory_vs_length.png"}
    assert all(p.stat().st_size > 0 for p in paths) and "accuracy tables need `lra-bench sweep`" in text
    published = tmp_path / "published"  # LRA Table 2 at a length this bench has, so the section shows
    published.mkdir()
    (published / "reference.csv").write_text("model,attention,task,accuracy\n")
    (published / "reference_speed.csv").write_text(
        "model,attention,length,steps_per_s,relative_speed,memory_gb,source\n"
        "Transformer,softmax,128,8.0,1.0,1.0,fixture\nLinear Trans.,linear,128,16.0,2.0,0.5,fixture\n")
    text, _ = write_report(store, tmp_path / "out", published / "reference.csv")
    assert "beside LRA Table 2" in text and "| linear" in text


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


def _configured(seed, acc, max_steps, when, attention="softmax", task="t"):
    config = {"seed": seed, "task": {"name": task}, "attention": {"name": attention},
              "trainer": {"max_steps": max_steps}}
    return dict(_record(attention, task, seed, acc, chance=0.05, when=when), run_id=f"{task}__{attention}__s{seed}__{max_steps}",
                config=config, steps=max_steps)


def test_two_seeds_at_different_max_steps_are_never_averaged(tmp_path):
    store = tmp_path / "runs"
    write_record(store, _configured(0, 0.10, max_steps=20, when="2026-01-01"))
    write_record(store, _configured(1, 0.16, max_steps=30, when="2026-01-02"))
    markdown, paths = write_report(store, tmp_path / "out")
    wide = pd.read_csv(paths[1], index_col="attention")
    assert wide.loc["softmax", "t"] == pytest.approx(16.0)  # the latest config's seed alone, not 13.00
    assert "13.00" not in markdown and "(n=2)" not in markdown
    assert "16.00 †2 configs" in markdown and "steps 20" in markdown and "steps 30" in markdown


def test_seeds_of_one_config_average_with_interval_and_pair_with_softmax(tmp_path):
    store = tmp_path / "runs"
    for seed, (soft, lin) in enumerate([(0.50, 0.40), (0.60, 0.45), (0.70, 0.65)]):
        write_record(store, _configured(seed, soft, 20, "2026-01-01"))
        write_record(store, _configured(seed, lin, 20, "2026-01-01", attention="linear"))
    markdown, _ = write_report(store, tmp_path / "out")
    # mean 60, std 10, n 3: t(0.975, 2) = 4.303 -> 4.303 * 10 / sqrt(3) = 24.84
    assert "60.00 ± 10.00 (n=3) [95% ±24.84]" in markdown
    # differences -10, -15, -5: mean -10, std 5, half-interval 4.303 * 5 / sqrt(3) = 12.42
    assert "## Paired with softmax" in markdown and "-10.00 ± 5.00 (n=3) [95% ±12.42]" in markdown


def _with_speed(record, examples_per_s, memory, counter="process_peak_rss (reset at run start)"):
    return dict(record, throughput={"train_examples_per_s": examples_per_s, "peak_memory_bytes": memory,
                                    "peak_memory_counter": counter})


def test_tidy_csv_round_trips_and_has_every_column(tmp_path):
    from lra_bench.report import TIDY_COLUMNS, read_tidy, records_frame, summarise, tidy_table
    from lra_bench.results import load_records

    store = tmp_path / "runs"
    for seed, acc in enumerate([0.5, 0.6, 0.7]):
        write_record(store, _with_speed(_configured(seed, acc, 20, "2026-01-01"), 100.0 + seed, 2**30))
    write_record(store, _configured(0, None, 20, "2026-01-01", attention="linear") | {"status": "failed"})
    _, paths = write_report(store, tmp_path / "out")
    long = next(p for p in paths if p.name == "leaderboard_long.csv")
    read = read_tidy(long)
    expected = tidy_table(summarise(records_frame(load_records(store))))
    assert list(read.columns) == TIDY_COLUMNS
    pd.testing.assert_frame_equal(read, expected, check_dtype=False)
    softmax = read.set_index("attention").loc["softmax"]
    assert softmax["mean"] == pytest.approx(60.0) and softmax["n"] == 3 and softmax["throughput"] == pytest.approx(101.0)
    assert softmax["memory"] == 2**30 and softmax["steps"] == 20 and len(softmax["config_hash"]) == 12
    assert read.set_index("attention").loc["linear", "status"] == "failed"


def test_speed_and_memory_columns_name_their_counter(tmp_path):
    store = tmp_path / "runs"
    write_record(store, _with_speed(_configured(0, 0.5, 20, "2026-01-01"), 250.0, 300 * 2**20))
    markdown, _ = write_report(store, tmp_path / "out")
    assert "## Speed (train examples/s" in markdown and "250 ex/s, 300 MiB*" in markdown
    assert "* process RSS peak (CPU" in markdown


def test_latex_has_one_header_row_bold_best_pm_and_booktabs(tmp_path):
    store = tmp_path / "runs"
    for seed in (0, 1):
        write_record(store, _configured(seed, 0.5 + 0.1 * seed, 20, "2026-01-01"))
        write_record(store, _configured(seed, 0.3, 20, "2026-01-01", attention="linear"))
    _, paths = write_report(store, tmp_path / "out")
    tex = paths[2].read_text()
    body = tex.split("\\midrule")[0].split("\\toprule")[1].strip().splitlines()
    assert len(body) == 1 and body[0].startswith("attention & t"), body  # one header row
    assert "\\bfseries 55.00 $\\pm$ 7.07" in tex and "\\bfseries 30.00" not in tex
    assert "\\bottomrule" in tex and "±" not in tex


def test_lra_table_2_sits_beside_our_speed_at_shared_lengths(tmp_path):
    from lra_bench.config import REFERENCE_DIR

    store = tmp_path / "runs"
    write_record(store, _record("softmax", "listops", 0, 0.37))
    rows = [{"attention": a, "length": n, "mode": "train", "status": "ok", "ms": ms, "peak_bytes": mem,
             "time_vs_softmax": ms / ref, "memory_vs_softmax": mem / 100}
            for a, (ms, mem) in {"softmax": (10.0, 100), "linear": (5.0, 40)}.items()
            for n, ref in ((512, 10.0), (1024, 10.0))]
    write_record(store, {"run_id": "bench__x", "kind": "bench", "device": "cpu", "finished_at": "2026-01-02",
                         "rows": rows})
    markdown, _ = write_report(store, tmp_path / "out", REFERENCE_DIR / "reference.csv")
    section = markdown.split("beside LRA Table 2")[1]
    line = next(l for l in section.splitlines() if l.startswith("| linear"))
    # ours: 2x faster, 0.4x memory at 1024; LRA Table 2 linear at 1K: 1.1x, 0.37 / 0.85 GB = 0.44x
    assert "1024" in line and "2" in line and "1.1" in line and "0.4" in line and "0.44" in line
    assert "512" not in section  # LRA Table 2 has no 512 column
