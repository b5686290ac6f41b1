"""Checkpoints are data, never code, and an unreadable one costs a restart, not the run (issue 20,
defect 5); files and cache folders are written with the user's umask, not mkstemp's 0600/0700."""

import json
import os
from pathlib import Path

import torch

from lra_bench.atomic import atomic_write
from lra_bench.cli import main
from lra_bench.data.cache import cached_splits


def _train_then_mark_killed(workspace):
    """One complete tiny run, then its record set back to `running`: the next start resumes from last.pt."""
    assert main(["train", *workspace.overrides("trainer.checkpoint_every=3", f"paths.checkpoint_dir={workspace.root / 'ckpt'}")]) == 0
    (path,) = workspace.store.glob("*.json")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "status": "running"}))
    return record, Path(record["checkpoint_dir"]) / "last.pt"


class Planted:
    """A pickle that creates a folder when unpickled: what `weights_only=False` would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def test_a_planted_checkpoint_is_refused_and_set_aside(workspace, capsys, tmp_path):
    first, last = _train_then_mark_killed(workspace)
    marker = tmp_path / "payload_ran"
    torch.save({"model": Planted(marker)}, last)
    capsys.readouterr()
    assert main(["train", *workspace.overrides("trainer.checkpoint_every=3", f"paths.checkpoint_dir={workspace.root / 'ckpt'}")]) == 0
    assert not marker.exists(), "the pickled payload ran"
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "unreadable checkpoint" in line]
    assert str(last) in line and "set aside as last.pt.unreadable-" in line
    assert list(last.parent.glob("last.pt.unreadable-*"))
    (record,) = workspace.records()
    assert record["status"] == "ok" and record["resumed_from_step"] == 0
    assert record["metrics"] == first["metrics"], "a set-aside checkpoint means a fresh run"


def test_a_truncated_checkpoint_is_named_and_the_run_restarts(workspace, capsys):
    first, last = _train_then_mark_killed(workspace)
    last.write_bytes(last.read_bytes()[:100])
    capsys.readouterr()
    assert main(["train", *workspace.overrides("trainer.checkpoint_every=3", f"paths.checkpoint_dir={workspace.root / 'ckpt'}")]) == 0
    assert f"lra-bench: warning: {last}: unreadable checkpoint" in capsys.readouterr().err
    (record,) = workspace.records()
    assert record["status"] == "ok" and record["metrics"] == first["metrics"]


def test_last_checkpoint_loads_with_weights_only(workspace):
    _, last = _train_then_mark_killed(workspace)
    saved = torch.load(last, weights_only=True)
    assert saved["step"] == 6 and isinstance(saved["rng"]["numpy"]["keys"], torch.Tensor)


def test_files_and_cache_folders_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "record.json") as fh:
            fh.write("{}")

        def build(partial):
            import numpy as np
            for split in ("train", "val", "test"):
                np.save(partial / f"{split}_tokens.npy", np.ones((2, 3), dtype=np.int16))
                np.save(partial / f"{split}_labels.npy", np.zeros(2, dtype=np.int64))

        cached_splits(tmp_path / "cache", build)
    finally:
        os.umask(old)
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o755
