"""A sweep as one job list: its expansion, the pairs it cannot run, and its manifest and summary.

`lra-bench sweep` expands every task's grid into jobs (as Hydra's basic sweeper would) and launches
them in one call (hydra_plugins/lra_bench_sweeper). Each job notes its outcome in the sweep's
manifest folder, `<store>/.sweeps/<time>-<id>/` (its path reaches the jobs through
`hydra.job.env_set`, so every launcher carries it); the summary is read from there after the launcher
returns, so it holds under joblib, submitit and Ray, whose jobs run in other processes.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

from .compose import compose


def sweep_overrides(args: list[str]) -> list[list[str]]:
    """The multiruns of `lra-bench sweep`: one per task of the preset (its grid and the task's own
    overrides), then the user's overrides; a user's `task=` makes it one multirun over those tasks."""
    from .attention import get_attention_class, list_attentions

    preset = load_preset(args)
    user = [a for a in args if not a.startswith("sweep=")]
    given = _user_keys(args)

    def attention_grid(selection) -> list[str]:
        """`all` (variants with a non-causal form: the LRA tasks), `causal` (those with a causal form) or an
        explicit list, as one grid override."""
        if "attention" in given:
            return []
        if selection in ("all", "causal"):
            names = [n for n in list_attentions() if get_attention_class(n).has_form(causal=selection == "causal")]
        else:
            names = list(selection)
        return ["attention=" + ",".join(names)]

    seeds = [] if "seed" in given else ["seed=" + ",".join(str(s) for s in preset.seeds)]
    if "task" in given:
        return [[*attention_grid(preset.attentions), *seeds, *preset.overrides, *user]]
    runs = []
    for task, task_overrides in preset.tasks.items():
        own = [o for o in task_overrides if not o.startswith("attentions=")]
        selection = next((o.split("=", 1)[1] for o in task_overrides if o.startswith("attentions=")),
                         preset.attentions)
        runs.append([f"task={task}", *attention_grid(selection), *seeds, *preset.overrides, *own, *user])
    return runs


def load_preset(args: list[str]):
    """The sweep preset `sweep=NAME` of `args` names (conf/sweep/NAME.yaml; default cpu_default)."""
    from omegaconf import OmegaConf

    from .compose import group_options
    from .config import CONF_DIR
    from .errors import ConfigError, did_you_mean

    preset_name = next((a.split("=", 1)[1] for a in args if a.startswith("sweep=")), "cpu_default")
    preset_path = CONF_DIR / "sweep" / f"{preset_name}.yaml"
    if not preset_path.is_file():
        options = group_options("sweep")
        raise ConfigError(f"sweep={preset_name}: unknown sweep preset; available: {', '.join(options)}"
                          f"{did_you_mean(preset_name, options)}")
    return OmegaConf.load(preset_path)


def _user_keys(args: list[str]) -> set[str]:
    return {a.split("=", 1)[0].lstrip("+~") for a in args if "=" in a and not a.startswith("sweep=")}


def pair_overrides(args: list[str]) -> dict[tuple[str, str], list[str]]:
    """A preset's `pairs` (task -> attention -> overrides): settings the official code gives one variant on
    one task (LRA's per-model configs, e.g. local's block 64 and 2 heads on Image), added to that pair's
    jobs only, so the other variants keep the task's recipe. A key the user sets wins."""
    given = _user_keys(args)
    pairs = load_preset(args).get("pairs") or {}
    return {(task, attention): [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in given]
            for task, by_attention in pairs.items() for attention, overrides in by_attention.items()}


def new_manifest(store: Path) -> Path:
    """A fresh manifest folder in the store (shared with the jobs), or a local temporary one with a
    warning when the store cannot hold it (its runs will each say so too)."""
    manifest = store / ".sweeps" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    try:
        manifest.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        manifest = Path(tempfile.mkdtemp(prefix="lra-bench-sweep-"))
        print(f"lra-bench: warning: {store}: cannot hold the sweep's manifest ({err.strerror}); using {manifest}",
              file=sys.stderr)
    return manifest


MANIFEST_ENV = "LRA_BENCH_SWEEP_MANIFEST"


def split_jobs(runs: list[list[str]], pairs: dict | None = None) -> tuple[list[str], list[list[str]]]:
    """(Hydra's own overrides, every job's overrides): each grid of `sweep_overrides` expanded into its
    product as Hydra's basic sweeper would (a later value of a key wins), then each job of a (task,
    attention) pair in `pairs` (`pair_overrides`) given that pair's settings; the `hydra...` and `--flag`
    overrides kept apart for the command line."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    hydra_args = [o for o in runs[0] if o.startswith(("hydra", "-"))]
    parser = OverridesParser.create()
    jobs = []
    for grid in runs:
        plain = [o for o in grid if not o.startswith(("hydra", "-"))]
        jobs += BasicSweeper.split_arguments(parser.parse_overrides(plain), None)[0]
    for job in jobs:
        values = dict(o.split("=", 1) for o in job if "=" in o)
        job += (pairs or {}).get((values.get("task"), values.get("attention")), [])
    return hydra_args, jobs


def impossible_pairs(runs: list[list[str]], args: list[str]) -> list[dict]:
    """Task x registered variant pairs a preset's grid leaves out because the variant lacks the form the
    task needs (causal or not): recorded as n/a in the summary, never launched. None when the user
    named the attentions."""
    from .attention import get_attention_class, list_attentions

    if any(a.lstrip("+").startswith("attention=") for a in args):
        return []
    pairs = []
    for grid in runs:
        task = next((o.split("=", 1)[1] for o in grid if o.startswith("task=")), None)
        chosen = next((o.split("=", 1)[1].split(",") for o in grid if o.startswith("attention=")), None)
        if task is None or chosen is None or "," in task:
            continue
        causal = bool(compose([o for o in grid if not o.startswith(("hydra", "-")) and "," not in o]).model.causal)
        pairs += [{"task": task, "attention": name, "status": "n/a",
                   "reason": "no causal form" if causal else "causal only"}
                  for name in list_attentions() if name not in chosen
                  and not get_attention_class(name).has_form(causal=causal)]
    return pairs


def note_job(record: dict):
    """In a job of `lra-bench sweep`: leave its outcome in the sweep's manifest folder (in the store)."""
    folder = os.environ.get(MANIFEST_ENV)
    if not folder:
        return
    from hydra.core.hydra_config import HydraConfig

    from .atomic import atomic_write

    entry = {k: record.get(k) for k in ("run_id", "task", "attention", "seed", "status", "error", "skipped")}
    if record.get("record_written") is False:
        entry["status"] = "unrecorded"  # trained, but the store did not take its record
    try:
        with atomic_write(Path(folder) / f"job-{HydraConfig.get().job.num}.json") as fh:
            json.dump(entry, fh)
    except (OSError, ValueError) as err:
        print(f"lra-bench: error: could not note job {record.get('run_id')} in {folder}: {err}", file=sys.stderr)


def sweep_summary(manifest: Path, expected: int, not_applicable: list[dict], store: Path) -> int:
    """Tally the jobs' outcomes from the manifest (a job that left none: `no result`), keep it as
    summary.json beside them, and name the report of the sweep's `store` (a preset may have its own,
    as `sweep=smoke`, which plain `lra-bench report` does not read); the exit status says whether any
    run did not end `ok` (1) or not (0)."""
    entries = []
    for path in sorted(manifest.glob("job-*.json")):
        try:
            entries.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    counts: dict[str, int] = {}
    for entry in entries:
        status = "skipped" if entry.get("skipped") else entry.get("status")
        counts[status] = counts.get(status, 0) + 1
    if expected > len(entries):
        counts["no result"] = expected - len(entries)
    if not_applicable:
        counts["n/a"] = len(not_applicable)
    (manifest / "summary.json").write_text(json.dumps({"counts": counts, "jobs": entries,
                                                       "not_applicable": not_applicable}, indent=1))
    print("sweep finished: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), flush=True)
    report = f"lra-bench report --store {store}"
    print(f"its leaderboard: {report}", flush=True)
    failed = sum(n for status, n in counts.items() if status not in ("ok", "skipped", "n/a"))
    if failed:
        print(f"lra-bench: error: {failed} of {expected} runs did not finish ok (see the records or "
              f"`{report}`; summary {manifest / 'summary.json'})", file=sys.stderr)
        return 1
    return 0
