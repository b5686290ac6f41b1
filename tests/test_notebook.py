"""notebooks/leaderboard.ipynb runs top to bottom on a small store and shows the tables and plots."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from lra_bench.bench.layer import BenchSettings
from lra_bench.bench.passes import run_bench
from lra_bench.results import write_record

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "leaderboard.ipynb"


def test_leaderboard_notebook_executes(tmp_path, monkeypatch):
    store = tmp_path / "runs"
    for attention, acc in (("softmax", 0.4), ("linear", 0.35)):
        write_record(store, {"run_id": f"listops__{attention}", "task": "listops", "attention": attention, "seed": 0,
                             "status": "ok", "num_parameters": 10, "finished_at": "2026-01-01",
                             "metrics": {"test_accuracy": acc, "chance_accuracy": 0.1, "stuck_at_chance": False}})
    run_bench(["softmax", "linear"], BenchSettings(lengths=(32, 64), batch=1, dim=16, num_heads=2, repeats=1, passes=1),
              str(store), progress=lambda *_: None)
    monkeypatch.setenv("LRA_BENCH_STORE", str(store))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "2 run records, 1 benchmark records" in text and "| softmax" in text and "36.37" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4
    assert os.environ["LRA_BENCH_STORE"] == str(store)
