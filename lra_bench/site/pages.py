"""What a run's page and a variant's page show, from their records: the facts (result, provenance,
device, speed, memory and its counter), the W&B link, the learning curves, the error tail, bench rows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from ..results import BenchRecord, RunRecord, memory_counter_label
from . import charts

ERROR_TAIL_LINES = 25


def page_name(run_id: str) -> str:
    """The file name of a run's page: the run id with anything but letters, digits, '.', '_', '-' as '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id) + ".html"


def mib(value: float | None) -> str:
    return "" if value is None else f"{value / 2**20:,.0f} MiB"


def wandb_link(record: RunRecord) -> tuple[str | None, str]:
    """(URL of the run on wandb.ai or None, a line saying what there is)."""
    info = record.raw.get("wandb") or {}
    path, mode = info.get("path"), info.get("mode")
    if not path or mode in (None, "off", "disabled"):
        return None, "no W&B run (logger off)"
    if mode == "offline":
        return None, f"offline W&B run {path} in {info.get('dir') or 'the run folder'}: upload it with lra-bench sync"
    parts = str(path).split("/")
    if len(parts) == 3:
        entity, project, run = parts
        return f"https://wandb.ai/{entity}/{project}/runs/{run}", f"W&B run {path}"
    return None, f"W&B run {path}"


def val_accuracy_points(record: RunRecord, label: str = "") -> list[charts.Point]:
    """Validation accuracy (%) at each evaluation of a run's history, hover text prefixed by `label`."""
    return [charts.Point(h["step"], 100 * h["val_accuracy"],
                         f"{label}step {h['step']}: val accuracy {100 * h['val_accuracy']:.2f}%")
            for h in record.history if isinstance(h, dict) and "step" in h and h.get("val_accuracy") is not None]


def learning_curves(record: RunRecord) -> tuple[str, str]:
    """(validation accuracy, train loss) charts of one run's history; empty strings without history."""
    history = [h for h in record.history if isinstance(h, dict) and "step" in h]
    accuracy = charts.Series("val accuracy", val_accuracy_points(record))
    curve = [c for c in record.raw.get("loss_curve") or [] if isinstance(c, list) and len(c) == 2]
    loss = charts.Series("train loss", [charts.Point(s, v, f"step {s}: train loss {v:.4f}") for s, v in curve] or [
        charts.Point(h["step"], h["train_loss"], f"step {h['step']}: train loss {h['train_loss']:.4f}")
        for h in history if h.get("train_loss") is not None])
    return (charts.line_chart([accuracy], "Validation accuracy during training", "step", "val accuracy (%)"),
            charts.line_chart([loss], "Train loss during training", "step", "train loss"))


@dataclass
class RunView:
    record: RunRecord
    page: str
    config_yaml: str
    wandb_url: str | None
    wandb_text: str
    accuracy_chart: str
    loss_chart: str
    error_tail: str
    facts: list[tuple[str, str]]


def run_view(record: RunRecord, page: str) -> RunView:
    raw, code, throughput = record.raw, record.raw.get("code") or {}, record.throughput
    url, wandb_text = wandb_link(record)
    accuracy, loss = learning_curves(record)
    error = "\n".join(str(raw.get("traceback") or record.error or "").rstrip().splitlines()[-ERROR_TAIL_LINES:])
    counter = throughput.get("peak_memory_counter")
    memory = (f"{mib(throughput.get('peak_memory_bytes'))} ({memory_counter_label(counter)}; counter: {counter})"
              if throughput.get("peak_memory_bytes") is not None else "not measured")
    metrics = record.metrics

    def percent(key):
        return f"{100 * metrics[key]:.2f}%" if isinstance(metrics.get(key), (int, float)) else ""

    def rate(key, unit):
        return f"{throughput[key]:,.1f} {unit}" if isinstance(throughput.get(key), (int, float)) else ""

    git = code.get("git_commit") or ""
    facts = [("status", record.status or "unknown"), ("task", record.task or ""), ("attention", record.attention or ""),
             ("seed", str(record.seed)), ("test accuracy", percent("test_accuracy")),
             ("best validation accuracy", percent("best_val_accuracy") + (
                 f" at step {metrics['best_val_step']}" if "best_val_step" in metrics else "")),
             ("chance accuracy", percent("chance_accuracy")),
             ("stuck at chance", "yes" if metrics.get("stuck_at_chance") else ("no" if metrics else "")),
             ("steps", "" if record.steps is None else str(record.steps)),
             ("parameters", "" if record.num_parameters is None else f"{record.num_parameters:,}"),
             ("code hash", record.code_hash or "not recorded"), ("config hash", record.config_hash),
             ("setup hash (config without seed)", record.setup_hash),
             ("variant source hash", code.get("variant_source_hash") or ""),
             ("package version", code.get("package_version") or ""),
             ("git commit", git + (" (uncommitted changes)" if code.get("git_dirty") else "") if git else "not recorded"),
             ("device", str(raw.get("device") or "not recorded")), ("host", str(raw.get("host") or "")),
             ("train throughput", rate("train_examples_per_s", "examples/s")),
             ("train tokens", rate("train_tokens_per_s", "tokens/s")),
             ("eval throughput", rate("eval_examples_per_s", "examples/s")),
             ("precision", str(throughput.get("precision") or "")), ("peak memory", memory),
             ("started", str(raw.get("started_at") or "")), ("finished", record.finished_at),
             ("wall time", f"{raw['wall_seconds']:.1f} s" if isinstance(raw.get("wall_seconds"), (int, float)) else ""),
             ("software", ", ".join(f"{k} {v}" for k, v in (raw.get("software") or {}).items() if v))]
    config = raw.get("config")
    return RunView(record, page, yaml.safe_dump(config, sort_keys=False) if config else "", url, wandb_text,
                   accuracy, loss, error if record.status != "ok" else "", [(k, v) for k, v in facts if v])


BENCH_COLUMNS = ["mode", "form", "length", "status", "ms", "iqr_ms", "peak_bytes", "time_vs_softmax",
                 "ratio_iqr", "ratio_unstable", "memory_vs_softmax"]


def bench_rows(bench: list[BenchRecord], attention: str) -> list[dict]:
    """The variant's rows of every bench record, newest record first, with the record's device and id."""
    rows = []
    for record in sorted(bench, key=lambda r: r.finished_at, reverse=True):
        for row in record.rows:
            if row.get("attention") != attention:
                continue
            shown = {k: row.get(k) for k in BENCH_COLUMNS}
            shown["peak_bytes"] = mib(row["peak_bytes"]) if isinstance(row.get("peak_bytes"), (int, float)) else ""
            for key in ("ms", "iqr_ms", "time_vs_softmax", "ratio_iqr", "memory_vs_softmax"):
                if isinstance(shown[key], float):
                    shown[key] = f"{shown[key]:.2f}"
            rows.append({**{k: "" if v is None else v for k, v in shown.items()}, "device": record.device,
                         "record": record.run_id})
    return rows
