"""The whole path as a user runs it: `lra-bench sweep` then `lra-bench report`, in subprocesses."""

import os
import subprocess
import sys


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lra_bench.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_sweep_runs_every_registered_attention_and_reports(workspace):
    """Every variant with a non-causal form runs on the (non-causal) ListOps preset."""
    from lra_bench.attention import get_attention_class, list_attentions

    noncausal = [n for n in list_attentions() if get_attention_class(n).supports_noncausal]
    assert "combiner_mixture" not in noncausal and "softmax" in noncausal
    proc = _cli("sweep", "task=listops_small", *workspace.overrides())
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = workspace.records()
    assert sorted(r["attention"] for r in records) == noncausal
    assert all(r["status"] == "ok" for r in records)
    report = _cli("report", "--store", str(workspace.store), "--out", str(workspace.root / "report"))
    assert report.returncode == 0, report.stderr
    for name in noncausal:
        assert f"| {name}" in report.stdout
    assert (workspace.root / "report" / "plots" / "leaderboard.png").exists()


def test_lra_full_gives_each_lra_baseline_its_own_lra_config_and_every_pair_job_composes():
    """LRA's per-model configs (lra_benchmarks/image/configs/cifar10/local_base.py: block_size 64, 2 heads,
    MEAN pooling; pathfinder32/linear_transformer_base.py: 1 layer, 2 heads, emb 128, qkv 64, mlp 128;
    listops/configs/performer_base.py: FAVOR+ with 2 features) reach only their pair's jobs; softmax keeps
    the recipe; a key the user sets wins; every pair's job composes (a typo'd key would fail here)."""
    from lra_bench.compose import compose
    from lra_bench.sweep import pair_overrides, split_jobs, sweep_overrides

    args = ["sweep=lra_full"]
    _, jobs = split_jobs(sweep_overrides(args), pair_overrides(args))
    by_pair = {}
    for job in jobs:
        values = dict(o.split("=", 1) for o in job)
        by_pair.setdefault((values["task"], values["attention"]), job)
    local_image = compose(by_pair[("image", "local")])
    assert (local_image.attention.block_size, local_image.model.num_heads, local_image.model.pooling) == (64, 2, "mean")
    softmax_image = compose(by_pair[("image", "softmax")])
    assert (softmax_image.model.num_heads, softmax_image.model.pooling) == (8, "cls")
    linear_pf = compose(by_pair[("pathfinder", "linear")])
    assert (linear_pf.model.depth, linear_pf.model.num_heads, linear_pf.model.dim, linear_pf.model.qkv_dim,
            linear_pf.model.mlp_dim) == (1, 2, 128, 64, 128)
    performer_listops = compose(by_pair[("listops", "performer")])
    assert (performer_listops.attention.attention_fn, performer_listops.attention.num_features,
            performer_listops.attention.redraw_features) == ("softmax", 2, True)
    assert compose(by_pair[("text", "performer")]).attention.attention_fn == "generalized"
    sinkhorn_image = compose(by_pair[("image", "sinkhorn")])  # cifar10/sinkhorn_base.py: weight decay 0.7
    assert (sinkhorn_image.trainer.weight_decay, sinkhorn_image.model.pooling, sinkhorn_image.model.dim) == (0.7, "mean", 32)
    assert compose(by_pair[("listops", "sinkhorn")]).model.pooling == "mean"
    for pair in pair_overrides(args):
        compose(by_pair[pair])
    user = ["sweep=lra_full", "model.num_heads=4"]
    _, jobs = split_jobs(sweep_overrides(user), pair_overrides(user))
    local = next(j for j in jobs if "task=image" in j and "attention=local" in j)
    assert "model.num_heads=2" not in local and "attention.block_size=64" in local
