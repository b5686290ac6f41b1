"""LRA Table 1 row for row (issue 22): order, published numbers, our cells as aggregate.py prints them,
Avg only over all five averaged tasks, the CSV round trip, the LaTeX groups, the context rows."""

import fnmatch
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from lra_bench.aggregate import cell_text, records_frame, summarise
from lra_bench.config import REFERENCE_DIR
from lra_bench.leaderboard import (GROUPS, LRA_AVERAGED, LRA_TABLE1, LRA_TASKS, SEEDS, leaderboard_rows,
                                   read_rows_csv, rows_frame, rows_latex, rows_markdown)
from lra_bench.results import load_records, write_record

REPO = Path(__file__).resolve().parents[1]
SOFTMAX = dict(zip(LRA_AVERAGED, (0.36, 0.64, 0.57, 0.42, 0.71)))


def _record(attention, task, seed, acc, status="ok"):
    metrics = {"test_accuracy": acc, "chance_accuracy": 0.1, "stuck_at_chance": False} if acc else {}
    return {"run_id": f"{task}__{attention}__s{seed}", "task": task, "attention": attention, "seed": seed,
            "status": status, "metrics": metrics, "num_parameters": 10, "finished_at": f"2026-01-0{seed + 1}",
            "error": None if status == "ok" else "RuntimeError: boom",
            "throughput": {"train_examples_per_s": 100.0 + seed, "peak_memory_bytes": 2**20 * (seed + 1),
                           "peak_memory_counter": "process_peak_rss"}}


@pytest.fixture
def records(tmp_path):
    store = tmp_path / "runs"
    for task, acc in SOFTMAX.items():
        for seed in (0, 1, 2):
            write_record(store, _record("softmax", task, seed, acc + 0.01 * seed))
    write_record(store, _record("performer", "listops", 0, 0.20))
    write_record(store, _record("performer", "text", 0, None, status="diverged"))
    write_record(store, _record("lln_diag", "listops", 0, 0.30))
    write_record(store, _record("nystromformer", "listops_small", 0, 0.30))  # no LRA task: no row
    return load_records(store)


def _published():
    return pd.read_csv(REFERENCE_DIR / "reference.csv", dtype=str, keep_default_na=False)


def test_each_lra_model_published_row_then_ours_then_seeds_then_context_groups(records):
    rows = leaderboard_rows(records)
    table1 = [r for r in rows if r.group == "lra_table1"]
    assert [(r.attention, r.origin) for r in table1] == [(a, o) for a in LRA_TABLE1 for o in ("published", "ours")]
    assert table1[0].model == "Transformer" and table1[-2].model == "Performer"
    seeds_ours = [r.attention for r in rows if r.group == "seeds" and r.origin == "ours"]
    assert seeds_ours == SEEDS
    combiner = [r.model for r in rows if r.group == "seeds"]
    assert combiner.index("Combiner-Fixed") + 1 == combiner.index("Combiner-Axial") == combiner.index("combiner") - 1
    assert [(r.model, r.origin) for r in rows if r.group == "other_ours"] == [("lln_diag", "ours")]
    groups = [r.group for r in rows]
    assert groups == sorted(groups, key=GROUPS.index), "groups in the order of GROUPS, each contiguous"


def test_every_lra_official_row_has_its_registered_variant():
    official = _published().query("setting == 'lra_official'")
    assert set(official.attention) == set(LRA_TABLE1)
    assert official.groupby("attention").model.nunique().eq(1).all()


def test_published_cell_is_the_reference_csv_number(records):
    reference = _published().query("setting == 'lra_official'").set_index(["attention", "task"]).accuracy
    rows = leaderboard_rows(records)
    for row in (r for r in rows if r.group == "lra_table1" and r.origin == "published"):
        for task, cell in row.cells.items():
            assert cell.text == reference[(row.attention, task)]
            assert cell.mean == (None if cell.text == "FAIL" else float(cell.text))
            assert cell.status == ("published_fail" if cell.text == "FAIL" else "published") and cell.n == 0
    bigbird = next(r for r in rows if r.model == "BigBird")
    assert bigbird.avg == pytest.approx((36.05 + 64.02 + 59.29 + 40.83 + 74.87) / 5)


def test_our_cell_is_aggregates_cell_text(records):
    summary = summarise(records_frame(records))
    shown = summary[summary.shown].set_index(["attention", "task"])
    rows = {(r.attention, r.origin): r for r in leaderboard_rows(records)}
    softmax = rows[("softmax", "ours")]
    for task in LRA_AVERAGED:
        assert softmax.cells[task].text == cell_text(shown.loc[("softmax", task)])
        assert softmax.cells[task].n == 3 and softmax.cells[task].ci95 is not None
        assert softmax.cells[task].run_ids == tuple(f"{task}__softmax__s{s}" for s in (0, 1, 2))
    assert softmax.cells["listops"].text.startswith("37.00 ± 1.00 (n=3)")
    assert softmax.throughput == pytest.approx(101.0) and softmax.memory_bytes == 3 * 2**20
    assert softmax.memory_counter == "process_peak_rss"
    performer = rows[("performer", "ours")]
    assert performer.cells["text"].text == "DIVERGED" and performer.cells["text"].mean is None
    assert rows[("local", "ours")].cells["listops"].status == "missing"
    assert rows[("local", "ours")].cells["listops"].text == ""


def test_avg_only_when_all_five_averaged_tasks_have_numbers(records):
    rows = {(r.attention, r.origin): r for r in leaderboard_rows(records)}
    assert rows[("softmax", "ours")].avg == pytest.approx(100 * sum(SOFTMAX.values()) / 5 + 1)
    assert rows[("performer", "ours")].avg is None, "a diverged cell is no number"
    combiner_fixed = next(r for r in leaderboard_rows(records) if r.model == "Combiner-Fixed")
    assert combiner_fixed.cells["pathfinder"].text == "" and combiner_fixed.avg is None
    s4 = next(r for r in leaderboard_rows(records) if r.model == "S4 (v2)")
    assert s4.avg == pytest.approx((59.60 + 86.82 + 90.90 + 88.65 + 94.20) / 5), "Path-X is not averaged"


def test_reference_more_rows_present_with_their_setting(records):
    more = pd.read_csv(REFERENCE_DIR / "reference_more.csv", dtype=str, keep_default_na=False)
    rows = leaderboard_rows(records)
    shown = {(r.model, r.group) for r in rows if r.origin == "published"}
    assert set(more[["model", "setting"]].itertuples(index=False, name=None)) <= shown
    mega = next(r for r in rows if r.model == "Mega")
    assert mega.cells["pathx"].mean == 97.98 and mega.source.startswith("Mega paper")


def test_unknown_context_setting_is_one_clear_line(tmp_path, records):
    from lra_bench.errors import ConfigError

    (tmp_path / "reference_more.csv").write_text("model,task,accuracy,source,setting\nX,listops,1,paper,elsewhere\n")
    with pytest.raises(ConfigError, match="reference_more.csv: setting 'elsewhere'"):
        leaderboard_rows(records, reference_dir=tmp_path)


def test_csv_round_trips(tmp_path, records):
    frame = rows_frame(leaderboard_rows(records))
    frame.to_csv(tmp_path / "lra.csv", index=False)
    back = read_rows_csv(tmp_path / "lra.csv")
    pd.testing.assert_frame_equal(back, frame)
    assert list(back.columns) == ["model", "attention", "origin", "group", "source", *LRA_TASKS, "avg"]


def test_markdown_heads_each_group_and_latex_has_a_midrule_between_groups(records):
    rows = leaderboard_rows(records)
    markdown = rows_markdown(rows)
    assert markdown.index("LRA Table 1") < markdown.index("Seed mechanisms") < markdown.index("top of LRA")
    latex = rows_latex(rows)
    body = latex[latex.index("\\midrule"):latex.index("\\bottomrule")]
    assert body.count("\\midrule") == 1 + len({r.group for r in rows}) - 1
    after = body.split("\\midrule\n")[2]
    assert after.startswith("Seed papers & cosformer & ours"), "the second group starts after its \\midrule"
    assert "\\toprule" in latex and "36.37" in latex and "sparse\\_transformer" in latex
    assert "$\\pm$" in latex and "±" not in latex


def test_the_wheel_carries_every_reference_table():
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["lra_bench"]
    for path in (REPO / "lra_bench" / "reference").iterdir():
        assert any(fnmatch.fnmatch(f"reference/{path.name}", g) for g in globs), path.name
    assert (REPO / "lra_bench" / "reference" / "reference_more.csv").is_file()


def test_published_points_are_lra_table2_at_4k_beside_table1_avg(records):
    from lra_bench.leaderboard import load_reference, published_points

    points = published_points(leaderboard_rows(records), load_reference(REFERENCE_DIR / "reference_speed.csv"))
    points = points.set_index("attention")
    # LRA Table 2 has no Sparse Transformer or Longformer column
    assert set(points.index) == set(LRA_TABLE1) - {"sparse_transformer", "longformer"}
    assert points.loc["performer", "speed"] == 5.7
    assert points.loc["performer", "memory_vs_softmax"] == pytest.approx(1.06 / 9.48)
    assert points.loc["performer", "accuracy"] == pytest.approx((18.01 + 65.40 + 53.82 + 42.77 + 77.05) / 5)


def test_accuracy_vs_speed_puts_lra_hollow_beside_ours_filled_and_names_our_task(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from lra_bench import plots
    from lra_bench.leaderboard import load_reference, published_points
    from lra_bench.report import leaderboard

    store = tmp_path / "runs"
    for attention, acc in (("softmax", 0.40), ("performer", 0.30)):
        write_record(store, _record(attention, "listops_small", 0, acc))
    records = load_records(store)
    frame = records_frame(records)
    _, numeric = leaderboard(frame)
    bench = pd.DataFrame([{"attention": a, "length": 1024, "mode": "train", "status": "ok", "ms": ms,
                           "peak_bytes": mem, "device": "cpu"} for a, ms, mem in (("softmax", 10, 100),
                                                                                   ("performer", 4, 40))])
    points = published_points(leaderboard_rows(records), load_reference(REFERENCE_DIR / "reference_speed.csv"))
    figures = []
    monkeypatch.setattr(plots.plt, "close", figures.append)
    assert plots.plot_accuracy_vs_speed(numeric, bench, tmp_path / "fig.png", summarise(frame), points)
    ax = figures[0].axes[0]
    assert "ours: listops_small accuracy" in ax.get_title() and "LRA: Table 1 Avg" in ax.get_title()
    drawn = [c for c in ax.collections if len(c.get_offsets())]
    hollow = [c for c in drawn if c.get_facecolor().size == 0 or c.get_facecolor()[0][3] == 0]
    assert len(hollow) == len(points) == 9 and len(drawn) - len(hollow) == 2
    ours_speed = {tuple(c.get_offsets()[0]) for c in drawn if c not in hollow}
    assert ours_speed == {(1.0, 40.0), (2.5, 30.0)}
    labels = {t.get_text() for t in ax.texts}
    assert {"Performer (LRA)", "performer", "softmax"} <= labels
    plt.close(figures[0])


def test_without_reference_tables_our_rows_stand_alone(tmp_path, records):
    rows = leaderboard_rows(records, reference_dir=tmp_path, tasks=["listops", "listops_small"])
    assert {r.origin for r in rows} == {"ours"}
    assert [r.attention for r in rows if r.group == "lra_table1"] == LRA_TABLE1
    assert all(list(r.cells) == ["listops", "listops_small"] for r in rows)
    assert next(r for r in rows if r.attention == "softmax").avg is not None, "Avg does not depend on the columns"
