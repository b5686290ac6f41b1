"""A variant from an installed plugin package (entry point `lra_bench.attentions`, no YAML) trains,
sweeps and reports like a built-in one; a broken plugin is reported in one line and skipped (issue 21)."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import TINY

PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"
[project]
name = "{name}"
version = "0.0.1"
[project.entry-points."lra_bench.attentions"]
{entry}
"""

VARIANT = '''"""Softmax with a temperature (a test plugin, Example 2026)."""
import torch
from lra_bench.attention import Attention, register_attention


@register_attention("plugged")
class Plugged(Attention):
    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, temperature: float = 2.0):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.temperature = temperature

    def forward(self, q, k, v, key_padding_mask=None):
        scores = q @ k.transpose(-1, -2) / (self.temperature * self.dim_head**0.5)
        allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device)
        if self.causal:
            allowed = allowed.tril()
        if key_padding_mask is not None:
            allowed = allowed & key_padding_mask[:, None, None, :]
        return scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1) @ v
'''


def install_plugins(tmp_path: Path) -> Path:
    """pip-install a working and a broken plugin package into a folder that goes on PYTHONPATH."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    (good / "plugged_attn").mkdir(parents=True)
    (good / "plugged_attn" / "__init__.py").write_text("")
    (good / "plugged_attn" / "plugged.py").write_text(VARIANT)
    (good / "pyproject.toml").write_text(PYPROJECT.format(name="plugged-attn", entry='plugged = "plugged_attn.plugged"'))
    (bad / "broken_attn").mkdir(parents=True)
    (bad / "broken_attn" / "__init__.py").write_text("")
    (bad / "pyproject.toml").write_text(PYPROJECT.format(name="broken-attn", entry='broken = "broken_attn.missing"'))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(good), str(bad)], check=True, capture_output=True)
    assert not list(good.rglob("*.yaml")), "the plugin ships no config file"
    return site


def test_entry_point_plugin_trains_sweeps_and_reports_and_a_broken_one_is_skipped(tmp_path):
    site = install_plugins(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "LRA_BENCH_HOME": str(work), "WANDB_MODE": "disabled",
           "LRA_BENCH_INCLUDE": ""}

    def lra_bench(*args, loads_plugins=True):
        done = subprocess.run([sys.executable, "-m", "lra_bench.cli", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        warnings = [line for line in done.stderr.splitlines() if "skipped plugin" in line]
        assert len(warnings) == loads_plugins, done.stderr[-2000:]  # one line, once per process
        assert all("broken = broken_attn.missing" in line and "ModuleNotFoundError" in line for line in warnings)
        assert "Traceback" not in done.stderr
        return done.stdout

    listed = lra_bench("ls", "attentions")
    assert "plugged" in listed and "Example 2026" in listed and "broken" not in listed
    assert "[ok] listops_small x plugged" in lra_bench("train", "attention=plugged", *TINY)
    swept = lra_bench("sweep", "task=listops_small", "attention=softmax,plugged", *TINY, "seed=1")
    assert "sweep finished: 2 ok" in swept
    report = lra_bench("report", loads_plugins=False)  # reads records only
    assert "| plugged" in report and "| softmax" in report
    checked = lra_bench("check", "attention=plugged")
    assert "### Conformance of `plugged`" in checked and " 0 failed" in checked
    assert "| config_node | PASS | generated from the signature (no YAML) |" in checked


def test_check_reports_a_failing_variant_in_its_table_and_exits_1():
    plugins = Path(__file__).resolve().parent / "plugins"
    done = subprocess.run([sys.executable, "-m", "lra_bench.cli", "check", "attention=always_fails"],
                          env={**os.environ, "LRA_BENCH_INCLUDE": str(plugins)}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| shape_and_dtype")]
    assert rows and all("| FAIL | RuntimeError: boom" in row for row in rows)
