"""Run records and the local results store (spec/README.md, "Results record").

One JSON file per run under the store folder, named by run id, written with `atomic_write`: a reader
sees the old record or the new one, never a torn one, even if the writer is killed.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from .atomic import atomic_write

RECORD_VERSION = 1

# Config parts that do not change what is trained: left out of the hash, so a moved store or a
# different logger still identifies the same run.
_IDENTITY_EXCLUDED = ("paths", "logger", "rerun")


def config_hash(resolved_config: dict) -> str:
    identity = {k: v for k, v in resolved_config.items() if k not in _IDENTITY_EXCLUDED}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


def run_id(task: str, attention: str, seed: int, hash_: str) -> str:
    return f"{task}__{attention}__s{seed}__{hash_}"


def write_record(store_dir: str | Path, record: dict) -> Path:
    """Atomically write `record` as <store_dir>/<run_id>.json and return the path."""
    target = Path(store_dir) / f"{record['run_id']}.json"
    with atomic_write(target) as fh:
        json.dump(record, fh, indent=2, sort_keys=True, default=str)
    return target


def read_record(store_dir: str | Path, rid: str) -> dict | None:
    """The record of one run id, or None when it is missing or not a readable record."""
    try:
        record = json.loads((Path(store_dir) / f"{rid}.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def read_records(store_dir: str | Path, on_skip=None) -> list[dict]:
    """Every readable record in the store; a broken file is skipped and named, through `on_skip(path,
    reason)` when given (the CLI prints it), else as a warning."""
    def skip(path, reason):
        if on_skip is not None:
            on_skip(path, reason)
        else:
            warnings.warn(f"{path}: skipped, {reason}", stacklevel=3)

    records = []
    for path in sorted(Path(store_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            skip(path, f"not a complete JSON record ({err})")
            continue
        if not isinstance(record, dict) or "run_id" not in record:
            skip(path, "no 'run_id' (not an lra-bench record)")
            continue
        records.append(record)
    return records
