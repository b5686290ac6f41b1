"""`lra-bench`: the command line. One subcommand per user job.

    lra-bench train [overrides]         one run (Hydra; `-m` for a multirun)
    lra-bench sweep [sweep=NAME] [ovr]  the default grid: every registered attention x the preset's tasks
    lra-bench report [--store DIR]      leaderboard tables and plots from the results store
    lra-bench sync [FOLDERS]            upload offline W&B runs (outputs/, multirun/)
    lra-bench prepare task=NAME         generate / read and check a task's data once
    lra-bench ls attentions|tasks|runs [PATTERN]
    lra-bench new-attention NAME        a new variant file + config that already pass the conformance suite
    lra-bench bench [--attentions ...]  speed and memory vs sequence length, as ratios to softmax
    lra-bench diagnose [--trained]      entropy, concentration, log-variance, spikiness of each variant

Overrides are checked before Hydra starts: a wrong name, key or type prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from omegaconf import OmegaConf

from .compose import (CONFIG_NAME, check_overrides, compose, group_options, include_searchpath,
                      register_generated_nodes, screen_includes)
from .config import CONF_DIR, validate_run_config
from .errors import ConfigError, LraBenchError, did_you_mean
from .sweep import MANIFEST_ENV, impossible_pairs, new_manifest, note_job, split_jobs, sweep_summary

_FINISHED: list[dict] = []


def _job(cfg):
    """The Hydra task function: one run, one record; a one-line summary on stdout."""
    from .runner import run_experiment

    record = run_experiment(cfg)
    _FINISHED.append(record)
    note_job(record)
    acc = (record.get("metrics") or {}).get("test_accuracy")
    summary = f"test_acc={acc:.4f}" if acc is not None else record.get("error")
    status = "skipped, already complete" if record.get("skipped") else record["status"]
    if record.get("skipped"):
        summary += f" (record {record['skipped']}; add rerun=true to train it again)"
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"[{status}] {record.get('task')} x {record.get('attention')} (seed {record.get('seed')}): {summary}",
              flush=True)
    return record["status"]


def _launch(overrides: list[str], multirun: bool):
    """Hand the overrides to Hydra (so every Hydra flag and launcher works as usual)."""
    import hydra

    register_generated_nodes()
    argv = ["lra-bench", *(["--multirun"] if multirun else []), *include_searchpath(), *overrides]
    saved, sys.argv = sys.argv, argv
    try:
        hydra.main(config_path=str(CONF_DIR), config_name=CONFIG_NAME, version_base="1.3")(_job)()
    finally:
        sys.argv = saved


# -- subcommands ----------------------------------------------------------------------------------

def cmd_train(args: list[str]) -> int:
    multirun = any(a in ("-m", "--multirun") for a in args)
    overrides = [a for a in args if a not in ("-m", "--multirun")]
    if not any(a.startswith("--") for a in overrides):  # --help, --info, --cfg: let Hydra answer
        check_overrides(overrides)
    _FINISHED.clear()
    _launch(overrides, multirun)
    failed = [r for r in _FINISHED if r["status"] != "ok"]
    if failed and not multirun:
        print(f"lra-bench: error: run {failed[0]['status']}: {failed[0]['error']}", file=sys.stderr)
        return 1
    return 1 if any(r.get("record_written") is False for r in _FINISHED) else 0  # said on stderr by the run


def sweep_overrides(args: list[str]) -> list[list[str]]:
    """The multiruns of `lra-bench sweep`: one per task of the preset (its grid and the task's own
    overrides), then the user's overrides; a user's `task=` makes it one multirun over those tasks."""
    from .attention import get_attention_class, list_attentions

    preset_name = next((a.split("=", 1)[1] for a in args if a.startswith("sweep=")), "cpu_default")
    preset_path = CONF_DIR / "sweep" / f"{preset_name}.yaml"
    if not preset_path.is_file():
        options = group_options("sweep")
        raise ConfigError(f"sweep={preset_name}: unknown sweep preset; available: {', '.join(options)}"
                          f"{did_you_mean(preset_name, options)}")
    preset = OmegaConf.load(preset_path)
    user = [a for a in args if not a.startswith("sweep=")]
    given = {a.split("=", 1)[0].lstrip("+~") for a in user if "=" in a}

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


def cmd_sweep(args: list[str]) -> int:
    """Every job of the preset as ONE Hydra multirun (one job array under submitit; the joblib slots all
    busy), then the summary from what the jobs left in the store (so it holds under every launcher)."""
    runs = sweep_overrides(args)
    for overrides in runs:
        check_overrides(overrides)
    hydra_args, jobs = split_jobs(runs)
    not_applicable = impossible_pairs(runs, args)
    manifest = new_manifest(Path(compose(jobs[0]).paths.store_dir))
    jobs_file = manifest / "jobs.json"
    jobs_file.write_text(json.dumps(jobs, indent=1))
    print(f"sweep: {len(jobs)} jobs in one multirun, {len(not_applicable)} n/a pairs; manifest {manifest}", flush=True)
    _launch(["hydra/sweeper=job_list", f"hydra.sweeper.jobs_file={jobs_file}",
             f"++hydra.job.env_set.{MANIFEST_ENV}={manifest}", *hydra_args], multirun=True)
    return sweep_summary(manifest, len(jobs), not_applicable)


def cmd_report(args: list[str]) -> int:
    from .config import PROJECT_ROOT
    from .report import write_report

    parser = argparse.ArgumentParser(prog="lra-bench report", description="Leaderboard from the results store.")
    parser.add_argument("--store", default=str(PROJECT_ROOT / "results" / "runs"), help="results store folder")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "results"), help="where tables and plots go")
    parser.add_argument("--reference", default=str(PROJECT_ROOT / "results" / "reference.csv"),
                        help="published accuracies to put beside ours ('' = none)")
    parser.add_argument("--wandb", action="store_true", help="also log the leaderboard and plots to W&B "
                        "(job_type report; WANDB_MODE, offline when unset)")
    opts = parser.parse_args(args)
    table, written = write_report(Path(opts.store), Path(opts.out), Path(opts.reference) if opts.reference else None,
                                  on_skip=lambda path, reason: print(f"skipped {path}: {reason}", file=sys.stderr))
    print(table)
    print("\nwritten:\n" + "\n".join(f"  {p}" for p in written))
    if opts.wandb:
        from .report import log_report

        print(f"W&B: {log_report(Path(opts.out), written)}")
    return 0


def cmd_sync(args: list[str]) -> int:
    """Upload offline W&B runs: every offline-run-* folder under the given folders (any depth)."""
    import subprocess

    from .config import PROJECT_ROOT
    from .tracking import offline_runs

    parser = argparse.ArgumentParser(prog="lra-bench sync", description="Upload offline W&B runs (`wandb sync`).")
    parser.add_argument("folders", nargs="*", default=[str(PROJECT_ROOT / "outputs"), str(PROJECT_ROOT / "multirun")],
                        help="where to look for offline-run-* folders (default: outputs/ and multirun/)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, upload nothing")
    opts = parser.parse_args(args)
    runs = offline_runs([Path(f) for f in opts.folders])
    print(f"{len(runs)} offline W&B run(s) under {', '.join(opts.folders)}")
    if opts.dry_run or not runs:
        print("\n".join(f"  {r}" for r in runs))
        return 0
    return subprocess.run([sys.executable, "-m", "wandb", "sync", *map(str, runs)]).returncode


def cmd_prepare(args: list[str]) -> int:
    from .data import load_task

    check_overrides(args)
    run = validate_run_config(compose(args))
    data = load_task(run.task, run.paths.data_dir)
    for split in ("train", "val", "test"):
        s = getattr(data, split)
        print(f"{run.task.name}/{split}: {len(s)} examples, lengths {s.lengths.min().item()}-{s.lengths.max().item()}, "
              f"majority rate {s.majority_rate():.3f}")
    if run.task.family == "pathfinder" and run.task.source == "generate":
        from .data.pathfinder import generated_statistics_line
        print(generated_statistics_line(run.task, data))
    return 0


def cmd_ls(args: list[str]) -> int:
    from .attention import get_attention_class, list_attentions

    from .config import PROJECT_ROOT

    parser = argparse.ArgumentParser(prog="lra-bench ls")
    parser.add_argument("what", choices=["attentions", "tasks", "runs"])
    parser.add_argument("pattern", nargs="?", default="*")
    parser.add_argument("--store", default=str(PROJECT_ROOT / "results" / "runs"), help="results store (runs)")
    opts = parser.parse_args(args)
    if opts.what == "runs":
        return list_runs(Path(opts.store), opts.pattern)
    if opts.what == "attentions":
        for name in list_attentions(opts.pattern):
            cls = get_attention_class(name)
            flags = [f for f in ("supports_causal", "needs_max_len", "padding_invariant") if getattr(cls, f)]
            print(f"{name:16s} {', '.join(flags)}")
    else:
        import fnmatch

        for name in group_options("task"):
            if fnmatch.fnmatch(name, opts.pattern):
                print(name)
    return 0


def list_runs(store: Path, pattern: str) -> int:
    """One line per run record: id, status (`stale` for a `running` record whose owner is gone), owner."""
    import fnmatch

    from .ownership import is_stale

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


def cmd_new_attention(args: list[str]) -> int:
    from .scaffold import new_attention

    if len(args) != 1:
        raise ConfigError("new-attention: expected exactly one NAME, e.g. `lra-bench new-attention my_attn`")
    for path in new_attention(args[0]):
        print(f"wrote {path}")
    print(f"next: edit the forward of {args[0]}, then `pytest -k \"conformance and {args[0]}\"` and "
          f"`lra-bench train attention={args[0]}`")
    return 0


def cmd_bench(args: list[str]) -> int:
    from .bench.command import main as bench_main

    return bench_main(args)


def cmd_diagnose(args: list[str]) -> int:
    from .diagnostics import main as diagnose_main

    return diagnose_main(args)


COMMANDS = {"diagnose": cmd_diagnose, "bench": cmd_bench, "new-attention": cmd_new_attention, "train": cmd_train, "sweep": cmd_sweep, "report": cmd_report, "sync": cmd_sync, "prepare": cmd_prepare, "ls": cmd_ls}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"lra-bench: error: unknown command '{argv[0]}'; expected one of {', '.join(COMMANDS)}"
                  f"{did_you_mean(argv[0], COMMANDS)}", file=sys.stderr)
            return 2
        print(__doc__)
        return 0
    screen_includes(lambda line: print(f"lra-bench: warning: {line}", file=sys.stderr))
    try:
        return COMMANDS[argv[0]](argv[1:])
    except LraBenchError as err:
        print(f"lra-bench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
