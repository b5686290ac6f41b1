"""Attention diagnostics: metrics that mean what they say on matrices with known answers, the command's
table and figures, and the decode benchmark's state memory (flat for recurrent variants)."""

import math

import pytest
import torch

from lra_bench.diagnostics import gaussian_metrics, matrix_metrics


def test_metrics_on_uniform_and_one_hot_rows():
    n = 16
    uniform = matrix_metrics(torch.full((n, n), 1 / n), torch.ones(n, dtype=torch.bool))
    assert uniform["entropy_mean"] == pytest.approx(math.log(n)) and uniform["concentration"] == pytest.approx(0)
    assert uniform["spectral_gap"] == pytest.approx(1.0) and uniform["log_variance"] == pytest.approx(0)
    assert uniform["top5_mass"] == pytest.approx(5 / n)
    identity = matrix_metrics(torch.eye(n), torch.ones(n, dtype=torch.bool))
    assert identity["entropy_mean"] == pytest.approx(0, abs=1e-9) and identity["concentration"] == pytest.approx(1)
    assert identity["spectral_gap"] == pytest.approx(0, abs=1e-9) and identity["top5_mass"] == pytest.approx(1)


def test_padding_is_left_out_and_negative_mass_reported():
    A = torch.tensor([[0.5, 0.5, 9.0], [0.5, 0.5, 9.0], [1.0, 1.0, 1.0]])
    real = torch.tensor([True, True, False])
    assert matrix_metrics(A, real)["entropy_mean"] == pytest.approx(math.log(2))
    signed = matrix_metrics(torch.tensor([[1.5, -0.5], [0.5, 0.5]]), torch.ones(2, dtype=torch.bool))
    assert signed["negative_mass"] == pytest.approx(0.5 / 3.0)


def test_lln_log_variance_is_close_to_softmax_at_initialisation():
    """LLN's claim, measured: on N(0,1) q, k (n = 256, d = 64) its log-variance is within 20% of softmax's,
    while plain linear attention's is two orders of magnitude smaller."""
    g = gaussian_metrics(["softmax", "lln", "linear"], lengths=(256,)).set_index("attention")
    assert abs(g.loc["lln", "log_variance"] / g.loc["softmax", "log_variance"] - 1) < 0.2
    assert g.loc["linear", "log_variance"] < 0.05 * g.loc["softmax", "log_variance"]


def test_diagnose_command_writes_table_figures_and_record(workspace, capsys, tmp_path):
    from lra_bench.cli import main

    out = tmp_path / "diag"
    code = main(["diagnose", "--attentions", "softmax,lln,elementwise", "--examples", "2", "--out", str(out),
                 *workspace.overrides()])
    assert code == 0
    text = (out / "diagnostics.md").read_text()
    assert "| lln " in text and "| elementwise " in text and "log_variance" in text
    assert (out / "plots" / "attention_maps.png").stat().st_size > 0
    assert (out / "plots" / "entropy_vs_length.png").stat().st_size > 0
    (record,) = [r for r in workspace.records() if r.get("kind") == "diagnostics"]
    assert {row["attention"] for row in record["rows"]} == {"softmax", "lln", "elementwise"}


def test_diagnose_trained_uses_the_runs_best_checkpoint(workspace, capsys, tmp_path):
    from lra_bench.cli import main

    assert main(["train", *workspace.overrides(f"paths.checkpoint_dir={tmp_path / 'ckpt'}")]) == 0
    assert main(["diagnose", "--attentions", "softmax,linear", "--trained", "--out", str(tmp_path / "d"),
                 *workspace.overrides(f"paths.checkpoint_dir={tmp_path / 'ckpt'}")]) == 0
    out = capsys.readouterr().out
    assert "linear: no completed run of listops_small" in out
    (record,) = [r for r in workspace.records() if r.get("kind") == "diagnostics"]
    assert [row["source"] for row in record["rows"]][0].startswith("run listops_small__softmax")


def test_decode_state_is_flat_for_recurrent_variants_and_grows_for_softmax():
    from lra_bench.bench.decode import measure_decode
    from lra_bench.bench.layer import BenchSettings

    settings = BenchSettings(batch=1, dim=64, num_heads=2)
    from lra_bench.attention import get_attention_class, list_attentions

    recurrent = [n for n in list_attentions() if get_attention_class(n).supports_step and n != "softmax"]
    assert recurrent
    for name in recurrent:
        sizes = {measure_decode(name, n, settings, tokens=3)["peak_bytes"] for n in (64, 512)}
        assert len(sizes) == 1, (name, sizes)
    small, large = (measure_decode("softmax", n, settings, tokens=3)["peak_bytes"] for n in (64, 512))
    assert large == pytest.approx(8 * small, rel=0.1)
