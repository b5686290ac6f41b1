"""The package as a pip user gets it (issue 21): the wheel carries the configs and the reference tables,
and installed into a fresh virtual environment outside the repository it lists tasks, composes a run and
trains one, with data, records and outputs under the working folder, none in site-packages.

Slow (~3-4 min on the 2-core machine: pip resolves the dependencies from PyPI, torch from the CPU wheel on
disk), so it is kept out of `make test`: `pytest -m slow tests/test_wheel.py`."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import TINY

REPO = Path(__file__).resolve().parents[1]


def build_wheel(dest: Path) -> Path:
    """The wheel of a copy of the package's files (setuptools writes build/ beside the sources)."""
    source = dest / "source"
    shutil.copytree(REPO / "lra_bench", source / "lra_bench", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(source),
                    "-w", str(dest)], check=True, capture_output=True, cwd=dest)
    (wheel,) = dest.glob("lra_bench-*.whl")
    return wheel


def test_wheel_holds_every_config_and_reference_table(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    conf = {str(p.relative_to(REPO)) for p in (REPO / "lra_bench" / "conf").rglob("*.yaml")}
    assert conf and conf <= names, sorted(conf - names)
    assert {"lra_bench/reference/reference.csv", "lra_bench/reference/reference_speed.csv",
            "lra_bench/reference/reference_more.csv"} <= names
    site = {str(p.relative_to(REPO)) for folder in ("templates", "static")
            for p in (REPO / "lra_bench" / "site" / folder).iterdir()}
    assert site and site <= names, sorted(site - names)  # the static site's templates, stylesheet and script


@pytest.mark.slow
def test_installed_wheel_lists_composes_and_trains_outside_the_repo(tmp_path):
    (tmp_path / "dist").mkdir()
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    for what in (["torch==2.13.0"], [str(wheel)]):
        done = subprocess.run(pip + what, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LRA_BENCH", "PYTHONPATH", "VIRTUAL_ENV"))}
    env["WANDB_MODE"] = "disabled"

    def lra_bench(*args):
        done = subprocess.run([str(venv / "bin" / "lra-bench"), *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    assert "listops_small" in lra_bench("ls", "tasks") and "hf:stanfordnlp/imdb" in lra_bench("ls", "tasks")
    job = lra_bench("train", "task=listops_small", "attention=linear", "--cfg", "job")
    assert "name: linear" in job and "name: listops_small" in job
    trained = lra_bench("train", "task=listops_small", "attention=linear", *TINY, "trainer.max_steps=5")
    assert "[ok] listops_small x linear" in trained
    assert len(list((work / "results" / "runs").glob("listops_small__linear__*.json"))) == 1
    assert (work / "tasks" / "listops" / "data").is_dir() and (work / "outputs").is_dir()
    (site,) = venv.glob("lib/python*/site-packages")
    assert not [p for p in ("tasks", "results", "outputs") if (site / p).exists() or (site / "lra_bench" / p).exists()]
