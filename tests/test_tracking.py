"""W&B by its conventions (issue 19), in offline mode (no network): a resumed run keeps its W&B id,
runs are grouped and typed, num_parameters is in config and summary, the last step's loss is logged,
and `lra-bench sync` finds offline runs at any depth."""

import json
from pathlib import Path

from lra_bench.cli import main
from lra_bench.tracking import offline_runs, wandb_run_id


def _wandb(workspace):
    return workspace.overrides("logger=wandb", "logger.mode=offline", f"paths.checkpoint_dir={workspace.root / 'ckpt'}")


def test_a_resumed_run_keeps_its_wandb_id(workspace):
    assert main(["train", *_wandb(workspace)]) == 0
    (first,) = workspace.records()
    assert first["wandb"]["id"] == wandb_run_id(first["run_id"]) and first["wandb"]["mode"] == "offline"
    path = Path(workspace.store) / f"{first['run_id']}.json"
    path.write_text(json.dumps({**first, "status": "running"}))  # as a run killed after its last checkpoint
    assert main(["train", *_wandb(workspace)]) == 0
    (resumed,) = workspace.records()
    assert resumed["status"] == "ok" and resumed["resumed_from_step"] > 0
    assert resumed["wandb"]["id"] == first["wandb"]["id"]
    runs = offline_runs([workspace.root / "out"])
    assert len(runs) == 2 and all(first["wandb"]["id"] in r.name for r in runs)  # one W&B run, two uploads


def test_runs_are_grouped_typed_and_carry_num_parameters(workspace, monkeypatch):
    from lra_bench import runner
    from lra_bench.tracking import Tracker

    seen = {}

    class Watching(Tracker):
        def finish(self, exit_code=0):
            seen.update(group=self.run.group, job_type=self.run.job_type, config=dict(self.run.config),
                        summary=dict(self.run.summary), id=self.run.id)
            super().finish(exit_code)

    monkeypatch.setattr(runner, "Tracker", Watching)
    assert main(["train", *_wandb(workspace)]) == 0
    (record,) = workspace.records()
    assert seen["group"] == "listops_small" and seen["job_type"] == "train" and seen["id"] == record["wandb"]["id"]
    assert seen["config"]["num_parameters"] == seen["summary"]["num_parameters"] == record["num_parameters"] > 0
    assert seen["summary"]["test_accuracy"] == record["metrics"]["test_accuracy"]


def test_report_logs_the_leaderboard_as_a_table(tmp_path, monkeypatch):
    from lra_bench import report, tracking
    from lra_bench.results import write_record

    logged = {}

    class Recording(tracking.Tracker):
        def table(self, key, frame, plots=None):
            logged.update(key=key, columns=list(frame.columns), rows=len(frame), plots=sorted(plots or {}),
                          job_type=self.run.job_type)
            super().table(key, frame, plots)

    monkeypatch.setattr(tracking, "Tracker", Recording)
    write_record(tmp_path / "runs", {"run_id": "t__softmax__s0", "task": "t", "attention": "softmax", "seed": 0,
                                     "status": "ok", "metrics": {"test_accuracy": 0.5}, "finished_at": "2026"})
    _, written = report.write_report(tmp_path / "runs", tmp_path / "out")
    assert report.log_report(tmp_path / "out", written)
    assert logged["key"] == "leaderboard" and logged["rows"] == 1 and "mean" in logged["columns"]
    assert logged["plots"] == ["plots/leaderboard"] and logged["job_type"] == "report"


def test_the_last_steps_train_loss_is_logged_even_past_log_every(workspace):
    assert main(["train", *workspace.overrides("trainer.log_every=100")]) == 0
    (record,) = workspace.records()
    assert [step for step, _ in record["loss_curve"]] == [record["config"]["trainer"]["max_steps"]]


def test_sync_lists_offline_runs_at_any_depth(tmp_path, capsys):
    for name in ("a/wandb/offline-run-1-x", "b/c/d/wandb/offline-run-2-y"):
        (tmp_path / name).mkdir(parents=True)
    assert main(["sync", "--dry-run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 offline W&B run(s)" in out and "offline-run-2-y" in out


def test_diagnose_logs_its_rows_as_a_table_grouped_by_task(workspace, tmp_path, monkeypatch):
    from lra_bench import config, tracking

    logged = []

    class Recording(tracking.Tracker):
        def table(self, key, frame, plots=None):
            logged.append({"key": key, "rows": len(frame), "columns": list(frame.reset_index().columns),
                           "plots": sorted(plots or {}), "group": self.run.group, "job_type": self.run.job_type})
            super().table(key, frame, plots)

    monkeypatch.setattr(tracking, "Tracker", Recording)
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path)  # the W&B folder: <root>/outputs/diagnose
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert main(["diagnose", "--attentions", "softmax,linear", "--examples", "1", "--out", str(tmp_path / "d"),
                 "--wandb", *workspace.overrides()]) == 0
    rows = next(t for t in logged if t["key"] == "diagnostics")
    assert rows["rows"] == 2 and {"attention", "entropy_mean", "log_variance"} <= set(rows["columns"])
    assert rows["group"] == "listops_small" and rows["job_type"] == "diagnose"
    assert rows["plots"] == ["plots/attention_maps", "plots/entropy_vs_length"]
    assert len(offline_runs([tmp_path / "outputs" / "diagnose"])) == 1
