"""No example is lost in silence (issue 20, defect 3): every dropped, unreadable or cut example is
counted in the record and warned about once, above `task.max_dropped_fraction` the run fails, and
ListOps release files are checked with our own evaluator when the cache is built."""

import random

import pytest

from fixtures import write_pathfinder_release
from lra_bench.cli import main
from lra_bench.data import load_task, task_schema
from lra_bench.data.listops import generate_examples, write_tsv
from lra_bench.errors import DataError


def config(family, **values):
    return task_schema(family)(family=family, **values)


def _broken_pathfinder(root, n=40, corrupt=(3, 7, 11, 15), missing=20):
    level = write_pathfinder_release(root / "pathfinder32" / "curv_contour_length_14", n=n)
    for i in corrupt:
        (level / "imgs" / "0" / f"sample_{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (level / "imgs" / "0" / f"sample_{missing}.png").unlink()
    return level


def test_unreadable_and_missing_images_are_counted_warned_once_and_fail_above_the_limit(tmp_path, capsys):
    _broken_pathfinder(tmp_path / "lra")
    common = dict(name="pathfinder", num_classes=2, max_len=1024, source="release", release_dir=str(tmp_path / "lra"))
    data = load_task(config("pathfinder", **common, max_dropped_fraction=0.5), str(tmp_path / "data"))
    assert data.integrity == {"listed": 40, "dropped": {"unreadable_or_missing_images": 5},
                              "first": str(tmp_path / "lra/pathfinder32/curv_contour_length_14/imgs/0/sample_3.png")}
    assert len(data.train) + len(data.val) + len(data.test) == 35
    warnings = [line for line in capsys.readouterr().err.splitlines() if "examples lost" in line]
    assert len(warnings) == 1 and "5 of 40 examples lost (5 unreadable_or_missing_images" in warnings[0]
    load_task(config("pathfinder", **common, max_dropped_fraction=0.5), str(tmp_path / "data"))
    assert "examples lost" not in capsys.readouterr().err, "warned once, when the cache is built"
    with pytest.raises(DataError, match=r"task pathfinder: 5 of 40 examples lost .* above task.max_dropped_fraction=0.01"):
        load_task(config("pathfinder", **common), str(tmp_path / "data"))


def test_the_record_carries_the_counts(workspace, tmp_path):
    _broken_pathfinder(tmp_path / "lra")
    code = main(["train", *workspace.overrides(
        "task=pathfinder", "task.source=release", f"task.release_dir={tmp_path / 'lra'}", "+task.max_dropped_fraction=0.5",
        "logger=none", "trainer.progress=false", "model.dim=16", "model.depth=1", "model.mlp_dim=16",
        "trainer.max_steps=2", "trainer.eval_every=2", "trainer.batch_size=4", "trainer.warmup_steps=1", tiny=False)])
    assert code == 0
    (record,) = workspace.records()
    assert record["data_integrity"]["dropped"] == {"unreadable_or_missing_images": 5}


def test_listops_longer_than_max_len_is_counted_not_silently_cut(workspace):
    code = main(["train", *workspace.overrides("task.max_len=16")])
    assert code == 1
    (record,) = workspace.records()
    assert record["status"] == "failed" and " truncated; first: " in record["error"]
    assert "above task.max_dropped_fraction=0.01" in record["error"]


def _release(folder, corrupt):
    examples = generate_examples(60, 4, 40, 4, 3, seed=0, workers=1)
    for split, part in (("train", examples[:40]), ("val", examples[40:50]), ("test", examples[50:])):
        write_tsv(folder / f"basic_{split}.tsv", [corrupt(source, label) for source, label in part])
    return folder


@pytest.mark.parametrize("corrupt, reason", [
    (lambda source, label: (source, (label + 1) % 10), "60 wrong_label"),
    (lambda source, label: (source.replace(" ]", "", 1) if source.count("]") else source, label), "unbalanced"),
])
def test_listops_release_files_are_checked_with_our_evaluator(tmp_path, corrupt, reason):
    folder = _release(tmp_path / "listops-1000", corrupt)
    cfg = config("listops", name="listops", num_classes=10, max_len=64, source="release", release_dir=str(folder))
    with pytest.raises(DataError, match=reason):
        load_task(cfg, str(tmp_path / "data"))


def test_listops_release_files_that_check_out_load_whole(tmp_path):
    folder = _release(tmp_path / "listops-1000", lambda source, label: (source, label))
    cfg = config("listops", name="listops", num_classes=10, max_len=64, source="release", release_dir=str(folder))
    data = load_task(cfg, str(tmp_path / "data"))
    assert data.integrity["listed"] == 60 and not data.integrity["dropped"]
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 10)
