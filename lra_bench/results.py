"""Run records and the local results store (spec/README.md, "Results record").

One JSON file per run under the store folder, named by run id, written with `atomic_write`: a reader
sees the old record or the new one, never a torn one, even if the writer is killed. Readers get typed
records (`load_records`: `RunRecord`, `BenchRecord`, `DiagnosticsRecord`), today's and version 1's.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .atomic import atomic_write

RECORD_VERSION = 2  # 2: every record has `kind` and `record_version`; a run's has `forms`

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


# -- typed records ---------------------------------------------------------------------------------
# Three kinds share the store. Version 2 writes `kind` and `record_version` in every record and the
# variant's `forms` in a run's; version-1 files (runs without `kind`, bench and diagnostics records
# without a version, runs without `forms`) are read as they are, `forms` taken from the registry.

FORMS = ("non-causal", "causal")


def variant_forms(attention: str) -> list[str] | None:
    """The forms a registered variant has ("non-causal", "causal"); None for a name not registered."""
    from .attention import get_attention_class, list_attentions

    if attention not in list_attentions():
        return None
    cls = get_attention_class(attention)
    return [form for form in FORMS if cls.has_form(causal=form == "causal")]


@dataclass
class RunRecord:
    """A training run (written by runner.py): what the leaderboard reads of it, and the whole JSON."""

    run_id: str
    task: str | None
    attention: str | None
    seed: int | None
    status: str | None
    finished_at: str
    error: str | None
    metrics: dict
    throughput: dict
    num_parameters: int | None
    recipe: str
    causal: bool
    forms: list[str] | None
    checkpoint_dir: str | None
    version: int
    raw: dict = field(repr=False)
    kind: ClassVar[str] = "run"

    @classmethod
    def from_json(cls, data: dict) -> RunRecord:
        forms = data.get("forms")
        return cls(run_id=data["run_id"], task=data.get("task"), attention=data.get("attention"),
                   seed=data.get("seed"), status=data.get("status"),
                   finished_at=data.get("finished_at") or data.get("started_at") or "", error=data.get("error"),
                   metrics=data.get("metrics") or {}, throughput=data.get("throughput") or {},
                   num_parameters=data.get("num_parameters"), recipe=(data.get("recipe") or {}).get("name", ""),
                   causal=bool(((data.get("config") or {}).get("model") or {}).get("causal", False)),
                   forms=forms if forms is not None or data.get("attention") is None
                   else variant_forms(data["attention"]),
                   checkpoint_dir=data.get("checkpoint_dir"), version=data.get("record_version", 1), raw=data)

    def has_form(self, causal: bool) -> bool | None:
        """Whether the variant has this form; None when the record cannot say (an unregistered v1 name)."""
        return None if self.forms is None else ("causal" if causal else "non-causal") in self.forms


@dataclass
class BenchRecord:
    """A `lra-bench bench` run: its settings, device and one row per measurement."""

    run_id: str
    device: str
    finished_at: str
    settings: dict
    rows: list[dict]
    version: int
    torch: str = ""
    kind: ClassVar[str] = "bench"

    @classmethod
    def from_json(cls, data: dict) -> BenchRecord:
        return cls(run_id=data["run_id"], device=data.get("device", ""), finished_at=data.get("finished_at", ""),
                   settings=data.get("settings") or {}, rows=data.get("rows") or [],
                   version=data.get("record_version", 1), torch=data.get("torch", ""))

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "kind": self.kind, "record_version": self.version, "status": "ok",
                "device": self.device, "finished_at": self.finished_at, "settings": self.settings,
                "rows": self.rows, "torch": self.torch}


@dataclass
class DiagnosticsRecord:
    """A `lra-bench diagnose` run: per-variant means on a task, and the Gaussian-input measurements."""

    run_id: str
    task: str
    trained: bool
    finished_at: str
    rows: list[dict]
    gaussian: list[dict]
    version: int
    kind: ClassVar[str] = "diagnostics"

    @classmethod
    def from_json(cls, data: dict) -> DiagnosticsRecord:
        return cls(run_id=data["run_id"], task=data.get("task", ""), trained=bool(data.get("trained")),
                   finished_at=data.get("finished_at", ""), rows=data.get("rows") or [],
                   gaussian=data.get("gaussian") or [], version=data.get("record_version", 1))

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "kind": self.kind, "record_version": self.version, "status": "ok",
                "task": self.task, "trained": self.trained, "finished_at": self.finished_at, "rows": self.rows,
                "gaussian": self.gaussian}


Record = RunRecord | BenchRecord | DiagnosticsRecord
_KINDS = {kind.kind: kind for kind in (RunRecord, BenchRecord, DiagnosticsRecord)}


def parse_record(data: dict | Record) -> Record:
    """The typed record of a JSON record (a record without `kind` is a run's: version 1)."""
    if not isinstance(data, dict):
        return data
    return _KINDS.get(data.get("kind", "run"), RunRecord).from_json(data)


def load_records(store_dir: str | Path, on_skip=None) -> list[Record]:
    """Every readable record in the store, typed (see `read_records`)."""
    return [parse_record(record) for record in read_records(store_dir, on_skip)]
