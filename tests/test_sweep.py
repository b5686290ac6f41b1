"""The whole path as a user runs it: `lra-bench sweep` then `lra-bench report`, in subprocesses."""

import os
import subprocess
import sys


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lra_bench.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_sweep_runs_every_registered_attention_and_reports(workspace):
    """Every variant with a non-causal form runs on the (non-causal) ListOps preset."""
    from lra_bench.attention import get_attention_class, list_attentions

    noncausal = [n for n in list_attentions() if get_attention_class(n).supports_noncausal]
    assert "combiner_mixture" not in noncausal and "softmax" in noncausal
    proc = _cli("sweep", "task=listops_small", *workspace.overrides())
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = workspace.records()
    assert sorted(r["attention"] for r in records) == noncausal
    assert all(r["status"] == "ok" for r in records)
    report = _cli("report", "--store", str(workspace.store), "--out", str(workspace.root / "report"))
    assert report.returncode == 0, report.stderr
    for name in noncausal:
        assert f"| {name}" in report.stdout
    assert (workspace.root / "report" / "plots" / "leaderboard.png").exists()
