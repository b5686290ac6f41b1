"""Sweeps that survive: a killed run resumes to the same result, complete runs are skipped, failures
become records and the sweep goes on, parallel writers leave whole records, launchers deliver."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TINY

PLUGINS = Path(__file__).parent / "plugins"


def _cli(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "lra_bench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "WANDB_MODE": "disabled", **(env or {})})


def _records(store):
    return {p.name: json.loads(p.read_text()) for p in sorted(Path(store).glob("*.json"))}


RESUMABLE = [o for o in TINY if not o.startswith(("trainer.max_steps", "trainer.eval_every"))] + [
    "trainer.max_steps=60", "trainer.eval_every=20", "trainer.checkpoint_every=5", "model.dropout=0.1"]


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    def paths(name):
        return [f"paths.store_dir={tmp_path / name / 'runs'}", f"paths.data_dir={tmp_path / 'data'}",
                f"paths.checkpoint_dir={tmp_path / name / 'ckpt'}", f"hydra.run.dir={tmp_path / name / 'out'}"]

    unbroken = _cli("train", *RESUMABLE, *paths("unbroken"))
    assert unbroken.returncode == 0, unbroken.stderr[-2000:]
    command = [sys.executable, "-m", "lra_bench.cli", "train", *RESUMABLE, *paths("killed")]
    proc = subprocess.Popen(command, env={**os.environ, "WANDB_MODE": "disabled"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    last = None
    while time.time() < deadline:
        last = next((tmp_path / "killed" / "ckpt").glob("*/last.pt"), None)
        if last is not None:
            break
        time.sleep(0.05)
    assert last is not None, "no checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (killed,) = _records(tmp_path / "killed" / "runs").values()
    assert killed["status"] == "running"
    resumed = _cli("train", *RESUMABLE, *paths("killed"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (a,) = _records(tmp_path / "unbroken" / "runs").values()
    (b,) = _records(tmp_path / "killed" / "runs").values()
    assert b["status"] == "ok" and 0 < b["resumed_from_step"] < 60
    assert b["metrics"] == a["metrics"]
    assert b["history"] == a["history"] and b["loss_curve"] == a["loss_curve"]


def test_sweep_started_again_skips_complete_runs(workspace):
    args = ["sweep", "task=listops_small", "attention=softmax,linear", *workspace.overrides(),
            f"paths.checkpoint_dir={workspace.root / 'ckpt'}"]
    first = _cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    before = {name: r["finished_at"] for name, r in _records(workspace.store).items()}
    second = _cli(*args)
    assert second.returncode == 0 and second.stdout.count("[skipped, already complete]") == 2
    assert {name: r["finished_at"] for name, r in _records(workspace.store).items()} == before
    third = _cli(*args[:-1], f"paths.checkpoint_dir={workspace.root / 'ckpt'}", "rerun=true",
                 "attention=softmax")
    assert third.returncode == 0 and "[ok]" in third.stdout


def test_failures_are_isolated_and_shown(workspace):
    env = {"LRA_BENCH_INCLUDE": str(PLUGINS)}
    sweep = _cli("sweep", "task=listops_small", "attention=softmax,always_fails,returns_nan,runs_out_of_memory",
                 *workspace.overrides(), env=env)
    assert sweep.returncode == 1, sweep.stderr[-2000:]  # the exit status says that runs failed
    assert "sweep finished: 1 diverged, 1 failed, 1 ok, 1 oom" in sweep.stdout
    assert "lra-bench: error: 3 of 4 runs did not finish ok" in sweep.stderr
    status = {r["attention"]: r for r in _records(workspace.store).values()}
    assert {a: r["status"] for a, r in status.items()} == {
        "softmax": "ok", "always_fails": "failed", "returns_nan": "diverged", "runs_out_of_memory": "oom"}
    assert status["always_fails"]["error"] == "RuntimeError: boom: this test-only variant always fails"
    assert "training loss is nan at step 1" in status["returns_nan"]["error"]
    report = _cli("report", "--store", str(workspace.store), "--out", str(workspace.root / "report"), env=env)
    assert report.returncode == 0
    table = {line.split("|")[1].strip(): line for line in report.stdout.splitlines() if line.startswith("| ")}
    assert "FAIL" in table["always_fails"] and "DIVERGED" in table["returns_nan"] and "OOM" in table["runs_out_of_memory"]
    assert any(ch.isdigit() for ch in table["softmax"].split("|")[2])
    assert "always_fails on listops_small (seed 0): failed: RuntimeError: boom" in report.stdout


def test_parallel_writers_leave_whole_records_and_report_names_a_broken_file(workspace):
    sweep = _cli("sweep", "hydra/launcher=local_parallel", "task=listops_small", "attention=softmax,linear",
                 "seed=0,1", *workspace.overrides())
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    records = _records(workspace.store)  # json.loads raises on a torn file
    assert len(records) == 4 and all(r["status"] == "ok" for r in records.values())
    truncated = workspace.store / "listops_small__broken__s0__0.json"
    truncated.write_text('{"run_id": "listops_small__broken", "status": "o')
    report = _cli("report", "--store", str(workspace.store), "--out", str(workspace.root / "report"))
    assert report.returncode == 0
    assert f"skipped {truncated}: not a complete JSON record" in report.stderr


def test_submitit_local_launcher_lands_both_records(workspace):
    sweep = _cli("sweep", "hydra/launcher=submitit_local", "task=listops_small", "attention=softmax,linear",
                 *workspace.overrides(), "hydra.launcher.timeout_min=10")
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    records = _records(workspace.store)
    assert sorted(r["attention"] for r in records.values()) == ["linear", "softmax"]
    assert all(r["status"] == "ok" for r in records.values())


@pytest.mark.timeout(600)
def test_torchrun_two_processes_match_one_process(tmp_path):
    """DDP on a CPU (gloo, 2 processes, batch 16 each) follows one process with batch 32."""
    common = [o for o in TINY if not o.startswith(("trainer.batch_size", "trainer.max_steps"))] + [
        "trainer.batch_size=32", "trainer.max_steps=12", "trainer.log_every=1", "model.dropout=0",
        f"paths.data_dir={tmp_path / 'data'}"]
    single = _cli("train", *common, f"paths.store_dir={tmp_path / 'one'}", f"paths.checkpoint_dir={tmp_path / 'c1'}",
                  f"hydra.run.dir={tmp_path / 'o1'}")
    assert single.returncode == 0, single.stderr[-2000:]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
                          "-m", "lra_bench.cli", "train", *common, f"paths.store_dir={tmp_path / 'two'}",
                          f"paths.checkpoint_dir={tmp_path / 'c2'}", f"hydra.run.dir={tmp_path / 'o2'}"],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"})
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    (one,) = _records(tmp_path / "one").values()
    (two,) = _records(tmp_path / "two").values()
    assert two["throughput"]["processes"] == 2 and one["throughput"]["processes"] == 1
    curve_one, curve_two = dict(one["loss_curve"]), dict(two["loss_curve"])
    assert curve_one.keys() == curve_two.keys() and len(curve_one) == 12
    for step, loss in curve_one.items():
        assert curve_two[step] == pytest.approx(loss, rel=1e-4, abs=1e-5), step
