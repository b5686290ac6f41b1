"""`make gpu-verify DRY=1`: the GPU slot's plan at toy sizes on a CPU, so it cannot rot before a GPU comes.

The device machine returns at most 8 files, 16 MiB each, at most two folders deep (results/REPRODUCTION.md);
the dry run checks the plan stays inside that and that every part ran and reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_runs_every_part_and_returns_what_the_device_can_carry(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(["make", "-s", "gpu-verify", "DRY=1", f"GPU_PYTHON={sys.executable}"], cwd=ROOT,
                            env={**os.environ, "OUT": str(out)}, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert sorted(p.name for p in files) == ["records.jsonl", "speed.md", "steps.md", "summary.md", "verify.log"]
    assert all(p.stat().st_size < 16 * 2**20 and len(p.relative_to(out).parts) <= 3 for p in files)
    summary = (out / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "| done |" in line]
    assert len(rows) == 4, summary
    assert "DRY RUN" in summary and "(paper 36.37" in summary and "speed targets:" in summary
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert [r["task"] for r in records if r.get("kind", "run") == "run"] == ["listops"]
    assert sum(r.get("kind") == "bench" for r in records) == 2  # the speed table and the model steps
    assert "whole training step" in (out / "steps.md").read_text()


def test_unused_time_moves_to_later_parts_and_later_budgets_stay_whole(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gpu_verify
    finally:
        sys.path.remove(str(ROOT / "tools"))
    verifier = gpu_verify.Verifier(tmp_path, dry_run=True, total=540)
    first, *later = verifier.parts
    assert abs(sum(p.budget for p in verifier.parts) - 525) < 1e-6  # 15 s kept for install and start-up
    assert 60 <= verifier.time_for(first) <= 540 - sum(p.budget for p in later)
    verifier.deadline -= 400  # the first parts overran: the last part still gets at most what is left
    assert verifier.time_for(later[-1]) <= 140


def test_returned_records_unpack_into_a_store_the_report_reads(tmp_path):
    lines = [{"run_id": "listops__softmax__s0__abc", "kind": "run", "status": "ok"},
             {"run_id": "bench__def__20261130T000000", "kind": "bench", "status": "ok", "rows": []}]
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_verify.py"), "--unpack", str(jsonl),
                             "--store", str(tmp_path / "runs")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "runs").glob("*.json")) == [
        "bench__def__20261130T000000.json", "listops__softmax__s0__abc.json"]
    assert json.loads((tmp_path / "runs" / "listops__softmax__s0__abc.json").read_text()) == lines[0]
