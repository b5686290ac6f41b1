"""`lra-bench`: the command line. One subcommand per user job.

    lra-bench train [overrides]         one run (Hydra; `-m` for a multirun)
    lra-bench sweep [sweep=NAME] [ovr]  the default grid: every registered attention x the preset's tasks
    lra-bench report [--store DIR]      leaderboard tables, plots and the static site from the results store
    lra-bench sync [FOLDERS]            upload offline W&B runs (outputs/, multirun/)
    lra-bench prepare task=NAME         generate / read and check a task's data once
    lra-bench ls [attentions|tasks|runs] [PATTERN]
    lra-bench new-attention NAME        a new variant file + config that already pass the conformance suite
    lra-bench check attention=NAME      the conformance suite on a variant: a Markdown table for an appendix
    lra-bench bench [--attentions ...]  speed and memory vs sequence length, as ratios to softmax
    lra-bench diagnose [--trained]      entropy, concentration, log-variance, spikiness of each variant

`lra-bench <command> -h` shows a command's options and examples; `lra-bench --version` the version.
Overrides are checked before Hydra starts: a wrong name, key or type prints one line and exits 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .errors import ConfigError, LraBenchError, did_you_mean
from .help import EXAMPLES, print_train_help

_FINISHED: list[dict] = []


def _job(cfg):
    """The Hydra task function: one run, one record; a one-line summary on stdout."""
    from .runner import run_experiment
    from .sweep import note_job

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

    from .compose import CONFIG_NAME, include_searchpath, register_generated_nodes
    from .config import CONF_DIR

    register_generated_nodes()
    argv = ["lra-bench", *(["--multirun"] if multirun else []), *include_searchpath(), *overrides]
    saved, sys.argv = sys.argv, argv
    try:
        hydra.main(config_path=str(CONF_DIR), config_name=CONFIG_NAME, version_base="1.3")(_job)()
    finally:
        sys.argv = saved


# -- subcommands ----------------------------------------------------------------------------------

def cmd_train(args: list[str]) -> int:
    from .compose import check_overrides
    from .hydra_flags import answers_only, check_plugins, split_hydra_flags

    multirun = any(a in ("-m", "--multirun") for a in args)
    args = [a for a in args if a not in ("-m", "--multirun")]
    flags, overrides = split_hydra_flags(args)
    if not answers_only(flags):  # -sc install=bash, --hydra-help: Hydra answers, nothing runs
        check_plugins(overrides)
        check_overrides(overrides)
    overrides = flags + overrides
    _FINISHED.clear()
    _launch(overrides, multirun)
    failed = [r for r in _FINISHED if r["status"] != "ok"]
    if failed and not multirun:
        print(f"lra-bench: error: run {failed[0]['status']}: {failed[0]['error']}", file=sys.stderr)
        return 1
    return 1 if any(r.get("record_written") is False for r in _FINISHED) else 0  # said on stderr by the run


def cmd_sweep(args: list[str]) -> int:
    """Every job of the preset as ONE Hydra multirun (one job array under submitit; the joblib slots all
    busy), then the summary from what the jobs left in the store (so it holds under every launcher)."""
    import json

    from .compose import check_overrides, compose
    from .sweep import (MANIFEST_ENV, impossible_pairs, new_manifest, pair_overrides, split_jobs, sweep_overrides,
                        sweep_summary)

    runs = sweep_overrides(args)
    for overrides in runs:
        check_overrides(overrides)
    hydra_args, jobs = split_jobs(runs, pair_overrides(args))
    not_applicable = impossible_pairs(runs, args)
    store = Path(compose(jobs[0]).paths.store_dir)
    manifest = new_manifest(store)
    jobs_file = manifest / "jobs.json"
    jobs_file.write_text(json.dumps(jobs, indent=1))
    print(f"sweep: {len(jobs)} jobs in one multirun, {len(not_applicable)} n/a pairs; manifest {manifest}", flush=True)
    _launch(["hydra/sweeper=job_list", f"hydra.sweeper.jobs_file={jobs_file}",
             f"++hydra.job.env_set.{MANIFEST_ENV}={manifest}", *hydra_args], multirun=True)
    return sweep_summary(manifest, len(jobs), not_applicable, store)


def cmd_report(args: list[str]) -> int:
    import argparse

    from .config import PROJECT_ROOT, REFERENCE_DIR

    parser = argparse.ArgumentParser(prog="lra-bench report", description="Leaderboard from the results store.",
                                     epilog=EXAMPLES["report"], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", default=str(PROJECT_ROOT / "results" / "runs"), help="results store folder")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "results"), help="where tables and plots go")
    parser.add_argument("--reference", default=str(REFERENCE_DIR / "reference.csv"),
                        help="published accuracies to put beside ours: a reference.csv, read with the "
                             "reference_more.csv and reference_speed.csv beside it where present ('' = none)")
    parser.add_argument("--wandb", action="store_true", help="also log the leaderboard and plots to W&B "
                        "(job_type report; WANDB_MODE, offline when unset)")
    site = parser.add_mutually_exclusive_group()
    site.add_argument("--html", action="store_true", help="only the static site, OUT/site/ (default: the tables, "
                      "plots and the site)")
    site.add_argument("--no-html", action="store_true", help="the tables and plots without the site")
    opts = parser.parse_args(args)
    from .report import check_reference, write_report
    from .results import load_records

    if opts.reference:
        check_reference(Path(opts.reference))

    def on_skip(path, reason):
        print(f"skipped {path}: {reason}", file=sys.stderr)

    records = load_records(Path(opts.store), on_skip)  # once, for the tables and the site
    if not opts.html:
        table, written = write_report(Path(opts.store), Path(opts.out),
                                      Path(opts.reference) if opts.reference else None, records=records)
        print(table)
        print("\nwritten:\n" + "\n".join(f"  {p}" for p in written))
        if opts.wandb:
            from .report import log_report

            logged = log_report(Path(opts.out), written)
            print(f"W&B: {logged}" if logged else "W&B: nothing logged (no run records; `lra-bench bench --wandb` "
                  "logs a bench's rows)")
    if not opts.no_html:
        from .site import build_site

        index = build_site(Path(opts.store), Path(opts.out) / "site",
                           Path(opts.reference).parent if opts.reference else None, published=bool(opts.reference),
                           records=records)
        print(f"\nsite (open in a browser): {index.resolve()}")
    return 0


def cmd_sync(args: list[str]) -> int:
    """Upload offline W&B runs: every offline-run-* folder under the given folders (any depth)."""
    import argparse
    import subprocess

    from .config import PROJECT_ROOT

    parser = argparse.ArgumentParser(prog="lra-bench sync", description="Upload offline W&B runs (`wandb sync`).",
                                     epilog=EXAMPLES["sync"], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", default=[str(PROJECT_ROOT / "outputs"), str(PROJECT_ROOT / "multirun")],
                        help="where to look for offline-run-* folders (default: outputs/ and multirun/)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, upload nothing")
    opts = parser.parse_args(args)
    from .tracking import offline_runs

    runs = offline_runs([Path(f) for f in opts.folders])
    print(f"{len(runs)} offline W&B run(s) under {', '.join(opts.folders)}")
    if opts.dry_run or not runs:
        print("\n".join(f"  {r}" for r in runs))
        return 0
    return subprocess.run([sys.executable, "-m", "wandb", "sync", *map(str, runs)]).returncode


def cmd_prepare(args: list[str]) -> int:
    from .compose import check_overrides, compose
    from .config import validate_run_config
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
    import argparse
    import fnmatch

    from . import catalog

    parser = argparse.ArgumentParser(prog="lra-bench ls", description="What can be named on a command line.",
                                     epilog=EXAMPLES["ls"], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=["attentions", "tasks", "runs"],
                        help="default: attentions and tasks")
    parser.add_argument("pattern", nargs="?", default="*", help="shell-style wildcard on the names")
    parser.add_argument("--store", default=None, help="results store, for `ls runs` (default: results/runs)")
    opts = parser.parse_args(args)
    if opts.what == "runs":
        from .config import PROJECT_ROOT

        from .ownership import list_runs

        return list_runs(Path(opts.store or PROJECT_ROOT / "results" / "runs"), opts.pattern)
    if opts.what in (None, "attentions"):
        rows = [v for v in catalog.variants() if fnmatch.fnmatch(v.name, opts.pattern)]
        print(f"attentions ({len(rows)}):  name, forms, paper")
        for v in rows:
            origin = "" if v.source == "built-in" else f"  [{v.source}]"
            print(f"  {v.name:17s} {', '.join(v.forms):26s} {v.paper}{origin}")
    if opts.what in (None, "tasks"):
        from .config import CONF_DIR, PROJECT_ROOT

        from .compose import include_conf_dirs

        rows = [t for t in catalog.tasks([CONF_DIR, *include_conf_dirs()], PROJECT_ROOT / "tasks") if fnmatch.fnmatch(t.name, opts.pattern)]
        print(f"tasks ({len(rows)}):  name, length, source, data prepared")
        for t in rows:
            print(f"  {t.name:17s} {t.max_len:6d}  {t.source:26s} {t.prepared}")
    return 0


def cmd_new_attention(args: list[str]) -> int:
    from .scaffold import new_attention

    folder = None
    if "--dir" in args:
        at = args.index("--dir")
        if at + 1 >= len(args):
            raise ConfigError("new-attention --dir: expected a folder, e.g. `--dir ~/my_variants`")
        folder, args = Path(args[at + 1]).expanduser().resolve(), args[:at] + args[at + 2:]
    if len(args) != 1 or args[0].startswith("-"):
        raise ConfigError("new-attention: expected exactly one NAME, e.g. `lra-bench new-attention my_attn`")
    name = args[0]
    for path in new_attention(name, folder=folder):
        print(f"wrote {path}")
    if folder is not None:
        print(f"enable it: export LRA_BENCH_INCLUDE={folder}")
    print(f"next: edit the forward of {name}, then `lra-bench check attention={name}` and "
          f"`lra-bench train attention={name}`")
    return 0


def cmd_check(args: list[str]) -> int:
    names = [n for a in args if a.startswith("attention=") for n in a.split("=", 1)[1].split(",")]
    unknown = [a for a in args if not a.startswith("attention=") and a not in ("--slow",)]
    if not names or unknown:
        raise ConfigError(f"check: expected attention=NAME[,NAME...] [--slow], got {' '.join(args) or 'nothing'}")
    from .attention import get_attention_class
    from .conformance import markdown_table, run_checks

    failed = 0
    for name in names:
        get_attention_class(name)  # an unknown name is one line with the registered ones
        rows = run_checks(name, slow="--slow" in args)
        failed += sum(result == "FAIL" for _, result, _ in rows)
        print(markdown_table(name, rows) + "\n")
    return 1 if failed else 0


def cmd_bench(args: list[str]) -> int:
    from .bench.command import main as bench_main

    return bench_main(args)


def cmd_diagnose(args: list[str]) -> int:
    from .diagnostics import main as diagnose_main

    return diagnose_main(args)


COMMANDS = {"train": cmd_train, "sweep": cmd_sweep, "report": cmd_report, "sync": cmd_sync, "prepare": cmd_prepare,
            "ls": cmd_ls,
            "new-attention": cmd_new_attention, "check": cmd_check, "bench": cmd_bench, "diagnose": cmd_diagnose}
# Commands whose options an argparse parser in their module prints; the others print help.USAGE here.
ARGPARSE_HELP = {"report", "sync", "ls", "bench", "diagnose"}


def _help(command: str, args: list[str]) -> int:
    """`lra-bench <command> -h`: the command's options (its parser, or help.USAGE) and its examples."""
    from .help import USAGE

    if command == "train":
        print_train_help()
        return 0
    if command not in ARGPARSE_HELP:
        print(USAGE[command] + "\n\n" + EXAMPLES[command])
        return 0
    try:
        COMMANDS[command](["--help"])
    except SystemExit as done:
        if command in ("bench", "diagnose"):  # their parsers carry no epilog
            print("\n" + EXAMPLES[command])
        return done.code or 0
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--version":
        from . import __version__

        print(f"lra-bench {__version__}")
        return 0
    if argv and argv[0] in ("-sc", "--shell-completion"):  # what Hydra's completion script runs
        from .hydra_flags import strip_subcommand_from_completion_line

        strip_subcommand_from_completion_line(os.environ)
        argv = ["train", *argv]
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        if argv and argv[0] not in ("-h", "--help"):
            print(f"lra-bench: error: unknown command '{argv[0]}'; expected one of {', '.join(COMMANDS)}"
                  f"{did_you_mean(argv[0], COMMANDS)}", file=sys.stderr)
            return 2
        print(__doc__)
        return 0
    command, args = argv[0], argv[1:]
    if any(a in ("-h", "--help") for a in args):
        return _help(command, args)
    if os.environ.get("LRA_BENCH_INCLUDE"):  # a missing path or a plugin that does not compile: one line, skipped
        from .compose import screen_includes

        screen_includes(lambda line: print(f"lra-bench: warning: {line}", file=sys.stderr))
    try:
        return COMMANDS[command](args)
    except LraBenchError as err:
        print(f"lra-bench: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
