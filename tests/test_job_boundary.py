"""The job boundary (issue 20, defect 1): whatever a run raises becomes its record and the sweep goes
on; the sweep's exit status says whether any run failed; a record that cannot be written is one line."""

import pytest
import torch

from lra_bench.cli import main


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_sweep_on_cuda_without_cuda_finishes_every_task_with_failed_records(workspace, capsys):
    code = main(["sweep", "attention=softmax,linear", *workspace.overrides(
        "logger=none", "trainer.progress=false", "trainer.device=cuda", tiny=False)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in out + err
    records = workspace.records()
    assert sorted({r["task"] for r in records}) == ["listops_small", "recall_small"]  # every task of the preset
    assert len(records) == 4 and all(r["status"] == "failed" for r in records)
    assert all("trainer.device=cuda: CUDA is not available" in r["error"] for r in records)
    assert "sweep finished: 4 failed" in out
    assert "lra-bench: error: 4 of 4 runs did not finish ok" in err
    assert f"`lra-bench report --store {workspace.store}`" in err  # the sweep's own store, not the default


def test_an_unwritable_store_is_one_line_per_run_and_the_sweep_goes_on(workspace, capsys, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the store should be\n")
    code = main(["sweep", "task=listops_small", "attention=softmax,linear",
                 *workspace.overrides(f"paths.store_dir={blocker}/runs")])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.count("[ok] listops_small") == 2, "both runs trained"
    lines = [line for line in err.splitlines() if "could not write the record" in line]
    assert len(lines) == 4 and all(str(blocker) in line for line in lines)  # start and end of each run
    assert "Traceback" not in err and "sweep finished: 2 unrecorded" in out


def test_train_with_an_unwritable_store_exits_non_zero(workspace, capsys, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    code = main(["train", *workspace.overrides(f"paths.store_dir={blocker}/runs",
                                               f"paths.checkpoint_dir={tmp_path / 'ckpt'}")])
    assert code == 1 and "could not write the record" in capsys.readouterr().err
