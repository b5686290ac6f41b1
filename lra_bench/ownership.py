"""Who owns a run: a lock beside its checkpoint folder, an owner in its record, and a heartbeat.

Runs of one config share `<paths.checkpoint_dir>/<run id>/` (the id leaves out `paths`), so two
identical runs started at once, or `rerun=true` next to a live run, would train over or delete each
other's checkpoints. `claim_run` takes `<paths.checkpoint_dir>/<run id>.lock` (filelock: released by
the OS when its process dies, so a killed run never leaves it held) or refuses in one line. While a
run trains, `Heartbeat` touches its `running` record every HEARTBEAT_SECONDS; `is_stale` tells a
record whose owner is gone (its pid is dead on this host, or its heartbeat is older than
STALE_AFTER_BEATS beats) from a live one.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from filelock import FileLock, Timeout

from .errors import LraBenchError

HEARTBEAT_SECONDS = 30.0
STALE_AFTER_BEATS = 4


class RunBusy(LraBenchError):
    """Another live process holds this run."""


def owner() -> dict:
    """What a `running` record says about the process that writes it."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat_seconds": HEARTBEAT_SECONDS}


def claim_run(checkpoint_root: str | Path, rid: str, current: dict | None) -> FileLock:
    """The held lock of run `rid`, or RunBusy naming the holder (from its record `current`) when it is taken."""
    path = Path(checkpoint_root) / f"{rid}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = (current or {}).get("owner") or {}
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "another process"
        raise RunBusy(f"{rid}: already running ({who} holds {path}); not started twice: wait for it, or "
                      "change the config") from None
    return lock


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def is_stale(record: dict, path: str | Path, now: float | None = None) -> bool:
    """A `running` record whose owner is gone: its pid dead on this host, else no heartbeat (the record
    file's modification time) for STALE_AFTER_BEATS beats. Records without an owner (older versions)
    are judged by the heartbeat alone."""
    if record.get("status") != "running":
        return False
    holder = record.get("owner") or {}
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        return not pid_alive(holder["pid"])
    try:
        age = (time.time() if now is None else now) - Path(path).stat().st_mtime
    except OSError:
        return True
    return age > STALE_AFTER_BEATS * float(holder.get("heartbeat_seconds") or HEARTBEAT_SECONDS)


class Heartbeat:
    """Touches `path` every `seconds` on a daemon thread until `stop()` (the record's mtime is the beat)."""

    def __init__(self, path: str | Path, seconds: float = HEARTBEAT_SECONDS):
        self.path, self.seconds = Path(path), seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name="lra-bench heartbeat")
        self.thread.start()

    def _beat(self):
        while not self.stopped.wait(self.seconds):
            try:
                os.utime(self.path)
            except OSError:  # the record could not be written: nothing to keep alive
                pass

    def stop(self):
        self.stopped.set()
        self.thread.join()


def list_runs(store: Path, pattern: str) -> int:
    """One line per run record: id, status (`stale` for a `running` record whose owner is gone), owner."""
    import fnmatch
    import json

    for path in sorted(store.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("kind", "run") != "run" or \
                not fnmatch.fnmatch(str(record.get("run_id")), pattern):
            continue
        status = "stale" if is_stale(record, path) else record.get("status")
        holder = record.get("owner") or {}
        where = f"  (pid {holder.get('pid')} on {holder.get('host')})" if status in ("running", "stale") else ""
        print(f"{record.get('run_id')}  {status}{where}")
    return 0
