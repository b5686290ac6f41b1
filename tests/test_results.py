"""The results store: records are complete, atomic under SIGKILL, and broken files are skipped by name."""

import json
import signal
import subprocess
import sys
import time

import pytest

from lra_bench.cli import main
from lra_bench.results import (RECORD_VERSION, BenchRecord, DiagnosticsRecord, RunRecord, load_records, read_records,
                               write_record)

SPEC_FIELDS = ["run_id", "config_hash", "task", "attention", "model", "seed", "status", "metrics", "throughput",
               "wall_seconds", "steps", "device", "software", "wandb", "config", "num_parameters"]


def test_record_of_a_run_is_complete(workspace):
    assert main(["train", *workspace.overrides()]) == 0
    (record,) = workspace.records()
    missing = [f for f in SPEC_FIELDS if f not in record]
    assert not missing, f"record lacks {missing}"
    assert record["status"] == "ok" and record["error"] is None
    for key in ("test_accuracy", "best_val_accuracy", "best_val_step", "test_loss", "chance_accuracy"):
        assert key in record["metrics"]
    assert 0 <= record["metrics"]["test_accuracy"] <= 1
    assert record["metrics"]["best_val_step"] in (3, 6)
    for key in ("train_examples_per_s", "train_tokens_per_s", "eval_examples_per_s", "eval_tokens_per_s"):
        assert record["throughput"][key] > 0
    assert record["throughput"]["peak_memory_bytes"] > 10 * 2**20
    assert "rss" in record["throughput"]["peak_memory_counter"]
    assert record["config"]["trainer"]["max_steps"] == 6 and record["config"]["task"]["name"] == "listops_small"
    assert record["software"]["torch"] and record["model"] == "small"
    assert record["kind"] == "run" and record["record_version"] == RECORD_VERSION
    assert record["forms"] == ["non-causal", "causal"]  # softmax has both
    (typed,) = load_records(workspace.store)
    assert isinstance(typed, RunRecord) and typed.metrics == record["metrics"] and typed.recipe == "default"


def test_version_1_records_are_read_as_typed_records(tmp_path):
    """Today's store holds records written before `kind`/`record_version`/`forms`: they still load."""
    write_record(tmp_path, {"run_id": "old_run", "task": "listops", "attention": "linformer", "seed": 0,
                            "status": "ok", "metrics": {"test_accuracy": 0.3}, "started_at": "2026-01-01",
                            "record_version": 1, "config": {"model": {"causal": False}}})
    write_record(tmp_path, {"run_id": "old_bench", "kind": "bench", "status": "ok", "device": "cpu",
                            "settings": {}, "rows": [{"attention": "softmax"}], "finished_at": "2026-01-02"})
    write_record(tmp_path, {"run_id": "old_diag", "kind": "diagnostics", "status": "ok", "task": "listops",
                            "trained": False, "finished_at": "2026-01-03", "rows": [], "gaussian": []})
    bench, diagnostics, run = load_records(tmp_path)
    assert isinstance(run, RunRecord) and run.version == 1 and run.finished_at == "2026-01-01"
    assert run.forms == ["non-causal"] and run.has_form(causal=True) is False  # from the registry
    assert isinstance(bench, BenchRecord) and bench.version == 1 and bench.rows == [{"attention": "softmax"}]
    assert isinstance(diagnostics, DiagnosticsRecord) and diagnostics.task == "listops"
    assert BenchRecord.from_json(bench.to_json()) == bench  # what the writers write reads back the same


WRITER = """
import sys
from lra_bench.results import write_record
i = 0
while True:
    i += 1
    write_record(sys.argv[1], {"run_id": "r", "i": i, "payload": "x" * (200_000 + i % 7)})
"""


def test_record_stays_whole_when_writer_is_killed(tmp_path):
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
        deadline = time.time() + 10
        while not (tmp_path / "r.json").exists() and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        record = json.loads((tmp_path / "r.json").read_text())  # raises if torn
        assert record["i"] >= 1 and len(record["payload"]) >= 200_000


def test_store_skips_a_truncated_file_and_names_it(tmp_path):
    write_record(tmp_path, {"run_id": "good", "status": "ok"})
    (tmp_path / "bad.json").write_text('{"run_id": "bad", "stat')
    with pytest.warns(UserWarning, match=r"bad\.json: skipped, not a complete JSON record"):
        records = read_records(tmp_path)
    assert [r["run_id"] for r in records] == ["good"]


def test_wandb_offline_run_lives_in_the_run_output_dir(workspace, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    overrides = [o for o in workspace.overrides() if o != "logger=none"] + ["logger=wandb"]
    assert main(["train", *overrides]) == 0
    (record,) = workspace.records()
    assert record["wandb"]["mode"] == "offline" and record["wandb"]["path"].startswith("lra-bench/")
    offline_runs = list((workspace.root / "out" / "run" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert list(offline_runs[0].glob("*.wandb")), "the offline run wrote no data file"
