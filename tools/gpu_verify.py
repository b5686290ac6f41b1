"""`make gpu-verify`: one short GPU slot turned into the figures lra-bench still owes.

A lent GPU machine gives about ten minutes a command, no internet and at most 8 files back from
`$OUT` (results/REPRODUCTION.md, "One GPU slot"). This script spends them in a fixed order, each
part under a time budget (time a part leaves unused goes to the later ones), and writes every result
to `$OUT` (or results/gpu/) the moment it exists, so a slot cut short still returns what it finished:

  1. `pytest -m gpu`                                                      (the CUDA-only tests)
  2. ListOps, softmax, `experiment=lra/listops` (5,000 steps)            (test accuracy vs LRA's 36.37)
  3. `bench --check`: every variant, fwd+bwd, eager, 1K/4K/16K, vs SDPA   (+ causal forms vs fla's kernel)
  4. `bench --model listops,text`: whole bf16 training steps, eager; then compiled while time is left

Files in the output folder (5): `summary.md` (rewritten after every part), `verify.log` (every
line the parts print, as they print it), `records.jsonl` (the run and bench records), `speed.md`,
`steps.md`. The GPU image lacks hydra-core and omegaconf: their wheels come from `.wheels/`
(`make gpu-wheels`, where there is a package index) and are installed without an index into a
private folder. `--dry-run` runs the same plan at toy sizes on a CPU, so the test suite keeps this
script working before a GPU is available.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".wheels"
PAPER_LISTOPS = 36.37  # LRA Table 1, Transformer, ListOps (spec/reference.csv)
TOTAL_SECONDS = 540  # 9 minutes: one device command is 10, and the machine's own start is not ours
NEEDED_MODULES = ("hydra", "omegaconf", "antlr4")

# Toy sizes for --dry-run: the same commands and files, a few seconds each on a CPU.
DRY_LISTOPS = ["task.num_train=64", "task.num_val=32", "task.num_test=32", "task.min_length=16",
               "task.max_length=48", "task.max_len=48", "task.max_depth=6", "task.max_args=5",
               "model.dim=32", "model.qkv_dim=32", "model.mlp_dim=32", "model.depth=1", "model.num_heads=2",
               "trainer.max_steps=4", "trainer.eval_every=2", "trainer.warmup_steps=1", "trainer.batch_size=8"]
DRY_ATTENTIONS = "softmax,linear,cosformer"


@dataclass
class Part:
    """One step of the plan: a share of the time, the commands it runs, what it found."""

    title: str
    budget: float
    status: str = "not started"
    seconds: float = 0.0
    result: str = ""
    skipped: list = field(default_factory=list)


class Verifier:
    def __init__(self, out: Path, dry_run: bool, total: float):
        self.out, self.dry_run = out, dry_run
        self.work = Path(tempfile.mkdtemp(prefix="lra-gpu-verify-"))
        self.store, self.data = self.work / "store", self.work / "data"
        self.deadline = time.monotonic() + total
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "WANDB_MODE": "disabled",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        scale = total / TOTAL_SECONDS
        self.parts = [Part("1. pytest -m gpu", 60 * scale),
                      Part("2. ListOps, softmax, experiment=lra/listops", 300 * scale),
                      Part("3. attention speed table (bench --check)", 90 * scale),
                      Part("4. whole training steps (bench --model listops,text)", 75 * scale)]
        self.seen_records: set[str] = set()
        out.mkdir(parents=True, exist_ok=True)
        self.log = open(out / "verify.log", "a", buffering=1)

    # -- plumbing ---------------------------------------------------------------------------------

    def say(self, line: str):
        print(line, flush=True)
        self.log.write(line + "\n")

    def time_for(self, part: Part) -> float:
        """This part's budget plus whatever earlier parts left, keeping the later parts' budgets whole."""
        later = sum(p.budget for p in self.parts[self.parts.index(part) + 1:])
        return max(0.0, self.deadline - time.monotonic() - later)

    def run(self, args: list[str], timeout: float) -> tuple[int | None, list[str]]:
        """Run a command, streaming its lines to the console and verify.log; None = cut at `timeout`."""
        self.say(f"$ {' '.join(args)}   (at most {timeout:.0f} s)")
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        lines: list[str] = []

        def pump():
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                self.say("  " + lines[-1])

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=max(1.0, timeout))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
            code = None
            self.say(f"  [cut: past its {timeout:.0f} s budget]")
        reader.join(timeout=5)
        return code, lines

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "lra_bench.cli", *args]

    def collect_records(self) -> list[dict]:
        """Append records new in the store to records.jsonl; return them."""
        new = []
        for path in sorted(self.store.glob("*.json")):
            record = json.loads(path.read_text())
            key = f"{path.name}:{record.get('status')}"
            if key not in self.seen_records and record.get("status") != "running":
                self.seen_records.add(key)
                new.append(record)
        with open(self.out / "records.jsonl", "a") as handle:
            for record in new:
                handle.write(json.dumps(record) + "\n")
        return new

    def write_summary(self):
        lines = [f"# gpu-verify: {self.device}", "",
                 f"{datetime.now(timezone.utc).isoformat(timespec='seconds')}, commit {self.commit}, "
                 f"python {platform.python_version()}, torch {self.torch_version}"
                 + (" (DRY RUN: toy sizes on a CPU, no figure here is a result)" if self.dry_run else ""), "",
                 "| part | status | seconds | budget | result |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {p.title} | {p.status} | {p.seconds:.0f} | {p.budget:.0f} | {p.result} |" for p in self.parts]
        skipped = [f"- {p.title}: {s}" for p in self.parts for s in p.skipped]
        if skipped:
            lines += ["", "Skipped:", *skipped]
        for name in ("speed.md", "steps.md"):
            if (self.out / name).is_file():
                lines += ["", f"## {name}", "", (self.out / name).read_text()]
        (self.out / "summary.md").write_text("\n".join(lines) + "\n")

    # -- setup ------------------------------------------------------------------------------------

    def install_missing(self):
        """Install hydra-core, omegaconf, antlr4 and fla-core from .wheels/ when this Python lacks them."""
        missing = [m for m in NEEDED_MODULES if importlib.util.find_spec(m) is None]
        want_fla = importlib.util.find_spec("fla") is None and any(WHEELS.glob("fla_core-*.whl"))
        if not missing and not want_fla:
            return
        wheels = sorted(str(p) for p in WHEELS.glob("*.whl"))
        if missing and not wheels:
            raise SystemExit(f"gpu-verify: this Python lacks {', '.join(missing)} and {WHEELS} has no wheels: "
                             "run `make gpu-wheels` where there is a package index, then carry .wheels")
        site = self.work / "site"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--target", str(site), *wheels], check=True)
        sys.path.insert(0, str(site))
        self.env["PYTHONPATH"] = os.pathsep.join([str(site), self.env["PYTHONPATH"]])
        self.say(f"installed {len(wheels)} wheels from {WHEELS} into {site}")

    def describe_machine(self):
        import torch

        self.torch_version = torch.__version__
        gpu = torch.cuda.is_available()
        self.device = torch.cuda.get_device_name(0) if gpu else f"cpu ({os.cpu_count()} cores)"
        if not gpu and not self.dry_run:
            raise SystemExit("gpu-verify: no CUDA device here; `make gpu-verify DRY=1` runs the toy plan on a CPU")
        try:
            sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.strip()
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                   capture_output=True, text=True).stdout.strip()
            self.commit = sha + ("+dirty" if dirty else "")
        except (OSError, subprocess.CalledProcessError):
            self.commit = "unknown (no git here)"

    # -- the four parts ---------------------------------------------------------------------------

    def part_gpu_tests(self, part: Part):
        code, lines = self.run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"],
                               self.time_for(part))
        part.result = next((l for l in reversed(lines) if " passed" in l or " skipped" in l or " failed" in l),
                           "no summary line")
        return code in (0, 5)  # 5: nothing selected

    def part_listops(self, part: Part):
        paths = [f"paths.data_dir={self.data}", f"paths.store_dir={self.store}",
                 f"paths.checkpoint_dir={self.work / 'checkpoints'}", f"hydra.run.dir={self.work / 'hydra'}"]
        recipe = ["experiment=lra/listops", *(DRY_LISTOPS if self.dry_run else [])]
        start = time.monotonic()
        code, _ = self.run(self.cli("prepare", *recipe, *paths), self.time_for(part))
        if code != 0:
            part.result = "data preparation failed or was cut"
            return False
        prepared = time.monotonic() - start
        code, _ = self.run(self.cli("train", *recipe, "attention=softmax", "logger=none", "trainer.progress=false",
                                    *paths), self.time_for(part) - prepared)
        run = next((r for r in self.collect_records() if r.get("task") and r.get("kind", "run") == "run"), None)
        if run is None or run.get("status") != "ok":
            part.result = (f"data {prepared:.0f} s; " + (f"run {run['status']}: {run.get('error')}" if run else
                                                         "cut before the run finished") + self.cut_progress())
            return False
        accuracy = 100 * run["metrics"]["test_accuracy"]
        batch = run["config"]["trainer"]["batch_size"]
        steps_per_s = run["throughput"]["train_examples_per_s"] / batch
        part.result = (f"test {accuracy:.2f} (paper {PAPER_LISTOPS}, diff {accuracy - PAPER_LISTOPS:+.2f}); "
                       f"{run['steps']} steps, {steps_per_s:.1f} steps/s, run {run['wall_seconds']:.0f} s, "
                       f"data {prepared:.0f} s; {run['throughput']['precision']}, "
                       f"{'compiled' if run['throughput']['compiled'] else 'eager'}, {run['device']}")
        return True

    def cut_progress(self) -> str:
        """What a run cut at its budget had reached: the last checkpoint's step and validation accuracy."""
        import torch

        for last in (self.work / "checkpoints").glob("*/last.pt"):
            state = torch.load(last, map_location="cpu", weights_only=True)
            history = state.get("history") or []
            if history:
                best = max(h["val_accuracy"] for h in history)
                return f"; cut after step {history[-1]['step']}, best val {100 * best:.2f}"
        return ""

    def part_speed(self, part: Part):
        sizes = (["--lengths", "32,64", "--batch", "1", "--repeats", "1", "--attentions", DRY_ATTENTIONS]
                 if self.dry_run else ["--lengths", "1024,4096,16384", "--batch", "8", "--dtype", "bfloat16"])
        code, lines = self.run(self.cli("bench", "--check", "--no-compile", *sizes, "--store", str(self.store),
                                        "--out", str(self.out / "speed.md")), self.time_for(part))
        self.collect_records()
        verdict = next((l for l in lines if "### speed targets:" in l), "")
        part.result = verdict.replace("### ", "") + " (tables in speed.md)" if code == 0 else "cut or failed"
        return code == 0

    def part_steps(self, part: Part):
        sizes = (["--attentions", "softmax", "--length", "64", "--batch", "2", "--steps", "1"]
                 if self.dry_run else ["--steps", "10"])
        code, _ = self.run(self.cli("bench", "--model", "listops,text", "--no-compile", *sizes,
                                    "--store", str(self.store), "--out", str(self.out / "steps.md")),
                           self.time_for(part))
        self.collect_records()
        if code != 0:
            part.result = "cut or failed (rows measured so far are in verify.log)"
            return False
        part.result = "eager, every variant (steps.md)"
        compiled = self.work / "steps_compiled.md"
        for names in ("linear", "cosformer,lln,latte"):
            if self.dry_run or self.time_for(part) < 120:
                part.skipped.append(f"compiled steps of {names}: " + ("dry run" if self.dry_run else
                                                                       f"{self.time_for(part):.0f} s left, a "
                                                                       "compiled pair of tasks needs ~120"))
                continue
            code, _ = self.run(self.cli("bench", "--model", "listops,text", "--compile", "--attentions", names,
                                        "--steps", "10", "--store", str(self.store), "--out", str(compiled)),
                               self.time_for(part))
            self.collect_records()
            if code == 0:
                with open(self.out / "steps.md", "a") as handle:
                    handle.write(f"\n\ncompiled (torch.compile, default mode): {names} and softmax\n\n"
                                 + compiled.read_text())
                part.result += f"; compiled: {names}"
        return True

    def main(self) -> int:
        self.say(f"gpu-verify{' (dry run)' if self.dry_run else ''}: results in {self.out}")
        self.install_missing()
        self.describe_machine()
        self.write_summary()
        steps = (self.part_gpu_tests, self.part_listops, self.part_speed, self.part_steps)
        for part, step in zip(self.parts, steps):
            if self.time_for(part) < 5:
                part.status = "skipped (no time left)"
                self.write_summary()
                continue
            self.say(f"\n== {part.title} (budget {self.time_for(part):.0f} s)")
            start = time.monotonic()
            part.status = "running"
            try:
                part.status = "done" if step(part) else "incomplete"
            except Exception as err:  # noqa: BLE001 - one part's fault must not cost the others
                part.status, part.result = "error", f"{type(err).__name__}: {err}"
            part.seconds = time.monotonic() - start
            self.write_summary()
        self.say(f"\nsummary: {self.out / 'summary.md'}")
        shutil.rmtree(self.work, ignore_errors=True)
        return 0 if all(p.status == "done" for p in self.parts) else 1


def unpack(records: Path, store: Path) -> int:
    """Write each line of a slot's records.jsonl as a record file, so `lra-bench report --store` reads it."""
    store.mkdir(parents=True, exist_ok=True)
    count = 0
    for line in records.read_text().splitlines():
        record = json.loads(line)
        (store / f"{record['run_id']}.json").write_text(json.dumps(record, indent=1))
        count += 1
    print(f"{count} records from {records} into {store}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="toy sizes on a CPU: checks the plan, measures nothing")
    parser.add_argument("--total-seconds", type=float, default=TOTAL_SECONDS, help="wall-time budget of all parts")
    parser.add_argument("--out", default=os.environ.get("OUT"),
                        help="where results go (default: $OUT, else results/gpu/; a dry run: outputs/gpu_verify_dry/)")
    parser.add_argument("--unpack", metavar="RECORDS_JSONL", help="instead: write a returned records.jsonl as "
                        "record files into --store, for `lra-bench report --store`")
    parser.add_argument("--store", default=str(ROOT / "results" / "runs"), help="with --unpack: the results store")
    opts = parser.parse_args(argv)
    if opts.unpack:
        return unpack(Path(opts.unpack), Path(opts.store))
    out = opts.out or ROOT / ("outputs/gpu_verify_dry" if opts.dry_run else "results/gpu")
    return Verifier(Path(out), opts.dry_run, opts.total_seconds).main()


if __name__ == "__main__":
    sys.exit(main())
