"""A report that survives any one bad file (issue 20, item 4): each record is checked against the typed
record schema; a bad one is skipped with one line naming the file and the field; the table is written."""

import json

import pytest

from lra_bench.report import write_report
from lra_bench.results import write_record

GOOD = {"run_id": "t__softmax__s0", "kind": "run", "task": "t", "attention": "softmax", "seed": 0, "status": "ok",
        "metrics": {"test_accuracy": 0.5, "chance_accuracy": 0.1}, "finished_at": "2026-01-01T00:00:00"}


def _bad_run(**fields):
    return lambda store: (store / "bad.json").write_text(json.dumps({**GOOD, "run_id": "bad", **fields}))


def _directory(store):
    (store / "bad.json").mkdir()


def _dangling_symlink(store):
    (store / "bad.json").symlink_to(store / "nowhere.json")


def _bench_with_incomplete_rows(store):
    rows = [{"attention": "softmax", "length": 256, "mode": "train", "status": "ok", "ms": 1.0, "peak_bytes": 10},
            {"attention": "linear", "length": 256, "mode": "train", "status": "ok"}]
    (store / "bad.json").write_text(json.dumps({"run_id": "bad", "kind": "bench", "device": "cpu", "rows": rows,
                                                "finished_at": "2026-01-01"}))


def _diagnostics_without_rows(store):
    (store / "bad.json").write_text(json.dumps({"run_id": "bad", "kind": "diagnostics", "task": "t",
                                                "finished_at": "2026-01-01"}))


CASES = {
    "metrics a list": (_bad_run(metrics=[0.5]), "field 'metrics'"),
    "test_accuracy a string": (_bad_run(metrics={"test_accuracy": "0.5"}), "field 'metrics.test_accuracy'"),
    "finished_at a number": (_bad_run(finished_at=20260101), "field 'finished_at'"),
    "seed a list": (_bad_run(seed=[0, 1]), "field 'seed'"),
    "a directory named *.json": (_directory, "not a readable file"),
    "a dangling symlink named *.json": (_dangling_symlink, "not a readable file"),
    "a bench record with incomplete rows": (_bench_with_incomplete_rows, "field 'rows[1]': lacks"),
    "diagnostics without rows": (_diagnostics_without_rows, "field 'rows'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_one_bad_file_is_skipped_by_name_and_the_table_is_written(tmp_path, case):
    make_bad, field = CASES[case]
    store = tmp_path / "runs"
    write_record(store, GOOD)
    make_bad(store)
    skipped = []
    markdown, paths = write_report(store, tmp_path / "out",
                                   on_skip=lambda path, reason: skipped.append(f"{path}: {reason}"))
    assert len(skipped) == 1 and "bad.json" in skipped[0] and field in skipped[0], skipped
    assert "\n" not in skipped[0]
    assert "50.00" in markdown and (tmp_path / "out" / "leaderboard.md").is_file()
    assert paths and all(p.is_file() for p in paths)
