"""`lra-bench new-attention NAME` in a temporary copy of the repository: the new variant passes the
conformance suite with no further edit and appears in the next sweep's leaderboard."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lra_bench.errors import ConfigError
from lra_bench.scaffold import new_attention

REPO = Path(__file__).resolve().parents[1]


def _copy_repo(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    return dest


def test_new_attention_passes_conformance_and_joins_the_sweep(tmp_path):
    repo = _copy_repo(tmp_path / "repo")
    env = {**os.environ, "PYTHONPATH": str(repo), "LRA_BENCH_ROOT": str(repo), "WANDB_MODE": "disabled"}
    run = lambda *args: subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True,  # noqa: E731
                                       text=True, timeout=600)
    made = run("-m", "lra_bench.cli", "new-attention", "my_attn")
    assert made.returncode == 0, made.stderr
    assert (repo / "lra_bench/attention/my_attn.py").is_file() and (repo / "lra_bench/conf/attention/my_attn.yaml").is_file()
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_conformance.py", "-k", "my_attn")
    assert tests.returncode == 0, tests.stdout[-3000:]
    passed = re.search(r"(\d+) passed", tests.stdout)
    assert passed and int(passed.group(1)) >= 20, tests.stdout[-500:]  # every check, both forms, two dtypes
    tiny = ["logger=none", "trainer.progress=false", "task.num_train=64", "task.num_val=32", "task.num_test=32",
            "task.max_length=40", "task.max_len=40", "model.dim=16", "model.depth=1", "model.mlp_dim=16",
            "trainer.max_steps=2", "trainer.eval_every=2", "trainer.batch_size=16",
            "task=listops_small", "attention=softmax,my_attn"]
    sweep = run("-m", "lra_bench.cli", "sweep", *tiny)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    report = run("-m", "lra_bench.cli", "report")
    assert report.returncode == 0, report.stderr
    assert "| my_attn" in report.stdout and "| softmax" in report.stdout
    assert "my_attn" in (repo / "results" / "leaderboard.md").read_text()


def test_new_attention_refuses_bad_names_and_overwrites(tmp_path):
    (tmp_path / "lra_bench" / "attention").mkdir(parents=True)
    (tmp_path / "conf" / "attention").mkdir(parents=True)
    with pytest.raises(ConfigError, match="expected a lower-case Python identifier"):
        new_attention("My-Attn", root=tmp_path)
    new_attention("fresh", root=tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        new_attention("fresh", root=tmp_path)


def test_new_attention_in_a_folder_outside_the_package_checks_through_the_include_path(tmp_path, capsys):
    from lra_bench.cli import main

    assert main(["new-attention", "outside_attn", "--dir", str(tmp_path / "variants")]) == 0
    out = capsys.readouterr().out
    assert f"enable it: export LRA_BENCH_INCLUDE={tmp_path / 'variants'}" in out
    code = (tmp_path / "variants" / "outside_attn.py").read_text()
    assert "from lra_bench.attention import Attention, register_attention" in code
    env = {**os.environ, "LRA_BENCH_INCLUDE": str(tmp_path / "variants")}
    done = subprocess.run([sys.executable, "-m", "lra_bench.cli", "check", "attention=outside_attn"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert " 0 failed" in done.stdout and "| config_node | PASS | outside_attn.yaml type-checks" in done.stdout
