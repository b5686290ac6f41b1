"""A run owns its checkpoints (issue 20, defect 2): a second identical run refuses in one line,
`rerun=true` never deletes a folder a live process holds, and a `running` record whose owner is gone
is recognised as stale."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from lra_bench.cli import main
from lra_bench.ownership import Heartbeat, claim_run, is_stale


def test_a_second_identical_run_refuses_and_rerun_never_deletes_a_live_runs_folder(workspace, capsys):
    assert main(["train", *workspace.overrides(f"paths.checkpoint_dir={workspace.root / 'ckpt'}")]) == 0
    (done,) = workspace.records()
    checkpoints = Path(done["checkpoint_dir"])
    held = claim_run(workspace.root / "ckpt", done["run_id"], done)  # the live run
    try:
        capsys.readouterr()
        code = main(["train", *workspace.overrides(f"paths.checkpoint_dir={workspace.root / 'ckpt'}", "rerun=true")])
        err = capsys.readouterr().err
    finally:
        held.release()
    assert code == 1
    assert f"{done['run_id']}: already running" in err and "Traceback" not in err
    assert (checkpoints / "best.pt").is_file(), "rerun=true deleted the live run's checkpoints"
    assert workspace.records() == [done], "the refused run wrote over the live run's record"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_running_records_whose_owner_is_gone_are_stale(tmp_path, capsys):
    here = socket.gethostname()
    records = {
        "dead": {"owner": {"pid": _dead_pid(), "host": here}},
        "alive": {"owner": {"pid": os.getpid(), "host": here}},
        "elsewhere_silent": {"owner": {"pid": 1, "host": "node-7", "heartbeat_seconds": 30}},
        "elsewhere_beating": {"owner": {"pid": 1, "host": "node-7", "heartbeat_seconds": 30}},
    }
    for name, extra in records.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"run_id": name, "status": "running", **extra}))
    old = time.time() - 3600
    os.utime(tmp_path / "elsewhere_silent.json", (old, old))
    stale = {name for name in records if is_stale(json.loads((tmp_path / f"{name}.json").read_text()),
                                                   tmp_path / f"{name}.json")}
    assert stale == {"dead", "elsewhere_silent"}
    assert main(["ls", "runs", "--store", str(tmp_path)]) == 0
    listed = dict(line.split()[:2] for line in capsys.readouterr().out.splitlines())
    assert listed == {"alive": "running", "dead": "stale", "elsewhere_beating": "running", "elsewhere_silent": "stale"}


def test_the_heartbeat_keeps_a_running_record_fresh(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{}")
    old = time.time() - 3600
    os.utime(path, (old, old))
    beat = Heartbeat(path, seconds=0.05)
    time.sleep(0.3)
    beat.stop()
    assert path.stat().st_mtime > old + 3000


def test_a_run_record_names_its_owner(workspace):
    assert main(["train", *workspace.overrides(f"paths.checkpoint_dir={workspace.root / 'ckpt'}")]) == 0
    (record,) = workspace.records()
    assert record["owner"]["pid"] == os.getpid() and record["owner"]["host"] == socket.gethostname()
