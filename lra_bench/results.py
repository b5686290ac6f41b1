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


# What each memory counter of a record (`device.PeakMemory.counter`, a prefix of it) measures: (two
# words for a table cell, the sentence for a table's footnote). The report and the site both read it.
MEMORY_COUNTERS = {
    "cuda_max_memory_allocated": ("CUDA allocator peak", "CUDA max_memory_allocated"),
    "process_peak_rss": ("process RSS peak", "process RSS peak (CPU: the whole Python process, not the model alone)"),
}


def memory_counter_label(counter, long: bool = False) -> str:
    """What a record's memory counter measures (`MEMORY_COUNTERS`): two words, or the sentence with
    `long`; an unknown counter as itself, a missing one as 'counter unknown'."""
    if not isinstance(counter, str) or not counter:
        return "counter unknown"
    labels = next((labels for key, labels in MEMORY_COUNTERS.items() if counter.startswith(key)), None)
    return counter if labels is None else labels[long]


def config_hash(resolved_config: dict) -> str:
    identity = {k: v for k, v in resolved_config.items() if k not in _IDENTITY_EXCLUDED}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


def setup_hash(resolved_config: dict) -> str:
    """The config hash with the seed left out: runs that differ only in their seed share it, and the
    report averages a cell only over records of one setup hash and one code hash (issue 19)."""
    return config_hash({k: v for k, v in resolved_config.items() if k != "seed"})


def run_id(task: str, attention: str, seed: int, hash_: str, code_hash: str | None = None) -> str:
    """`<task>__<attention>__s<seed>__<config hash>`, then `__c<code hash>` when the code is named
    (provenance.code_identity): the config part alone is what tests/test_config_guard.py snapshots."""
    return f"{task}__{attention}__s{seed}__{hash_}" + (f"__c{code_hash}" if code_hash else "")


def record_path(store_dir: str | Path, rid: str) -> Path:
    return Path(store_dir) / f"{rid}.json"


def write_record(store_dir: str | Path, record: dict) -> Path:
    """Atomically write `record` as <store_dir>/<run_id>.json and return the path."""
    target = record_path(store_dir, record["run_id"])
    with atomic_write(target) as fh:
        json.dump(record, fh, indent=2, sort_keys=True, default=str)
    return target


def read_record(store_dir: str | Path, rid: str) -> dict | None:
    """The record of one run id, or None when it is missing or not a readable record."""
    try:
        record = json.loads(record_path(store_dir, rid).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


def _store_files(store_dir: str | Path, skip):
    """(path, JSON dict) of every readable record file; a broken one is named through `skip`."""
    for path in sorted(Path(store_dir).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            skip(path, f"not a complete JSON record ({err})")
            continue
        except OSError as err:  # a directory or a dangling symlink named *.json, an unreadable file
            skip(path, f"not a readable file ({err.strerror or err})")
            continue
        if not isinstance(record, dict) or "run_id" not in record:
            skip(path, "no 'run_id' (not an lra-bench record)")
            continue
        yield path, record


def _skipper(on_skip):
    def skip(path, reason):
        if on_skip is not None:
            on_skip(path, reason)
        else:
            warnings.warn(f"{path}: skipped, {reason}", stacklevel=4)
    return skip


def read_records(store_dir: str | Path, on_skip=None) -> list[dict]:
    """Every readable record in the store; a broken file is skipped and named, through `on_skip(path,
    reason)` when given (the CLI prints it), else as a warning."""
    return [record for _, record in _store_files(store_dir, _skipper(on_skip))]


# -- typed records ---------------------------------------------------------------------------------
# Three kinds share the store. Version 2 writes `kind` and `record_version` in every record and the
# variant's `forms` in a run's; version-1 files (runs without `kind`, bench and diagnostics records
# without a version, runs without `forms`) are read as they are, `forms` taken from the registry.

FORMS = ("non-causal", "causal")


class RecordError(ValueError):
    """A record whose field has the wrong type or is missing: the report skips it with this line."""


_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
               bool: "true/false", type(None): "null"}


def _field(data: dict, key: str, *types, default=None, where: str = ""):
    """data[key] when it has one of `types` (missing: `default`), else RecordError naming the field."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        expected = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
        raise RecordError(f"field '{where}{key}': expected {expected}, got {type(value).__name__} {value!r:.40}")
    return value


def _rows(data: dict, required: tuple, nonempty: bool = False) -> list[dict]:
    """data["rows"] as a list of objects that each have the `required` keys."""
    rows = _field(data, "rows", list, default=[])
    if nonempty and not rows:
        raise RecordError("field 'rows': expected at least one row, got none")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RecordError(f"field 'rows[{i}]': expected an object, got {type(row).__name__}")
        missing = [k for k in required if k not in row]
        if missing:
            raise RecordError(f"field 'rows[{i}]': lacks {', '.join(missing)}")
    return rows


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

    config_hash: str = ""
    setup_hash: str = ""
    code_hash: str | None = None
    steps: int | None = None
    history: list = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict) -> RunRecord:
        """The typed record; RecordError (naming the field) when a field the report reads has the wrong type."""
        forms = _field(data, "forms", list)
        metrics = _field(data, "metrics", dict) or {}
        for key in ("test_accuracy", "chance_accuracy", "best_val_accuracy"):
            _field(metrics, key, int, float, where="metrics.")
        seed = _field(data, "seed", int)
        config = _field(data, "config", dict) or {}
        model = _field(config, "model", dict, where="config.") or {}
        code = _field(data, "code", dict) or {}
        return cls(run_id=_field(data, "run_id", str), task=_field(data, "task", str),
                   attention=_field(data, "attention", str), seed=seed, status=_field(data, "status", str),
                   finished_at=_field(data, "finished_at", str) or _field(data, "started_at", str) or "",
                   error=_field(data, "error", str), metrics=metrics,
                   throughput=_field(data, "throughput", dict) or {},
                   num_parameters=_field(data, "num_parameters", int),
                   recipe=(_field(data, "recipe", dict) or {}).get("name", ""),
                   causal=bool(model.get("causal", False)),
                   forms=forms if forms is not None or data.get("attention") is None
                   else variant_forms(data["attention"]),
                   checkpoint_dir=_field(data, "checkpoint_dir", str), version=_field(data, "record_version", int, default=1),
                   raw=data, config_hash=_field(data, "config_hash", str) or (config_hash(config) if config else ""),
                   setup_hash=_field(data, "setup_hash", str) or (setup_hash(config) if config else ""),
                   code_hash=_field(code, "code_hash", str, where="code."), steps=_field(data, "steps", int),
                   history=_field(data, "history", list) or [])

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
        rows = _rows(data, ("attention",))
        for i, row in enumerate(rows):  # a layer or decode row is plotted against length: it needs all of these
            missing = [k for k in ("status", "length", "ms", "peak_bytes") if k not in row]
            if row.get("mode") in ("train", "infer", "decode") and missing:
                raise RecordError(f"field 'rows[{i}]': lacks {', '.join(missing)}")
        return cls(run_id=_field(data, "run_id", str), device=_field(data, "device", str, default=""),
                   finished_at=_field(data, "finished_at", str, default=""),
                   settings=_field(data, "settings", dict) or {}, rows=rows,
                   version=_field(data, "record_version", int, default=1), torch=_field(data, "torch", str, default=""))

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
        return cls(run_id=_field(data, "run_id", str), task=_field(data, "task", str, default=""),
                   trained=bool(data.get("trained")), finished_at=_field(data, "finished_at", str, default=""),
                   rows=_rows(data, ("attention",), nonempty=True), gaussian=_field(data, "gaussian", list) or [],
                   version=_field(data, "record_version", int, default=1))

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
    """Every readable, well-typed record in the store (see `read_records`); a record with a wrong-typed
    or missing field is skipped with one line naming the file and the field (issue 20, item 4)."""
    skip, records = _skipper(on_skip), []
    for path, data in _store_files(store_dir, skip):
        try:
            records.append(parse_record(data))
        except RecordError as err:
            skip(path, str(err))
    return records


def latest_bench_record(records: list, modes=("train", "infer")) -> BenchRecord | None:
    """The newest attention-layer benchmark record with a row of one of `modes` (`--model` records time
    whole steps, mode `model`, and are never plotted against length); None when the store has none."""
    bench = [r for r in map(parse_record, records) if isinstance(r, BenchRecord)
             and any(row.get("mode") in modes for row in r.rows)]
    return max(bench, key=lambda r: r.finished_at) if bench else None
