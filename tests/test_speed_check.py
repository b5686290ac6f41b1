"""`bench --check`: the GPU speed targets are judged from rows measured side by side; a missing
reference (OOM, no fla, a CPU) gives n/a with the reason, never an invented ratio."""

import pytest
import torch

from lra_bench.bench.speed_check import FLA_REFERENCE, evaluate, format_verdicts


def _row(form, name, length, ms, peak=1000, status="ok"):
    return {"form": form, "attention": name, "length": length, "mode": "train", "status": status,
            "ms": ms if status == "ok" else None, "peak_bytes": peak if status == "ok" else None}


def _verdict(verdicts, target, name):
    return next(v for v in verdicts if v["target"] == target and v["attention"] == name)


def test_targets_pass_and_miss_on_the_measured_ratios():
    rows = [_row("non-causal", "softmax", 4096, 10.0), _row("non-causal", "softmax", 16384, 100.0),
            _row("non-causal", "fast", 4096, 9.0, peak=100), _row("non-causal", "fast", 16384, 15.0, peak=400),
            _row("non-causal", "slow", 4096, 11.0, peak=100), _row("non-causal", "slow", 16384, 30.0, peak=1600),
            _row("causal", "linear", 4096, 3.0), _row("causal", "linear", 16384, 8.0),
            _row("causal", "latte", 4096, 9.0), _row("causal", "latte", 16384, 40.0),
            _row("causal", FLA_REFERENCE, 4096, 2.5), _row("causal", FLA_REFERENCE, 16384, 4.0)]
    verdicts = evaluate(rows)
    assert _verdict(verdicts, "time vs SDPA at 4096", "fast")["verdict"] == "PASS"
    assert _verdict(verdicts, "time vs SDPA at 16384", "fast")["measured"] == pytest.approx(0.15)
    assert _verdict(verdicts, "time vs SDPA at 4096", "slow")["verdict"] == "MISS"
    assert _verdict(verdicts, "time vs SDPA at 16384", "slow")["verdict"] == "MISS"  # 0.3x > 0.2x
    assert _verdict(verdicts, "memory 16384/4096 tokens", "fast")["verdict"] == "PASS"  # 4x tokens, 4x bytes
    assert _verdict(verdicts, "memory 16384/4096 tokens", "slow")["verdict"] == "MISS"  # 16x: quadratic
    at_4k = _verdict(verdicts, "causal time vs fla kernel at 4096", "linear")
    assert at_4k["measured"] == pytest.approx(1.2) and at_4k["verdict"] == "PASS"
    assert _verdict(verdicts, "causal time vs fla kernel at 16384", "linear")["verdict"] == "MISS"  # 2x
    assert _verdict(verdicts, "causal time vs fla kernel at 16384", "latte")["verdict"] == "info"  # no fla form
    assert not any(v["attention"] == "softmax" and v["target"].startswith("time") for v in verdicts)
    table = format_verdicts(verdicts)
    assert "PASS" in table and "MISS" in table and "| fast" in table


def test_a_table_with_1k_is_still_judged_at_the_4k_and_16k_targets():
    """tools/gpu_verify.py measures 1K, 4K and 16K; the targets stay those of 4K and 16K."""
    rows = [_row("non-causal", name, length, ms, peak=length // 8)
            for name, times in (("softmax", (1.0, 10.0, 100.0)), ("linear", (5.0, 9.0, 15.0)))
            for length, ms in zip((1024, 4096, 16384), times)]
    verdicts = evaluate(rows)
    targets = {v["target"] for v in verdicts}
    assert targets == {"time vs SDPA at 4096", "time vs SDPA at 16384", "memory 16384/4096 tokens"}
    assert _verdict(verdicts, "time vs SDPA at 4096", "linear")["verdict"] == "PASS"  # 0.9x; at 1K it is 5x


def test_missing_references_give_n_a_with_the_reason():
    rows = [_row("non-causal", "softmax", 4096, 10.0), _row("non-causal", "softmax", 16384, None, status="OOM"),
            _row("non-causal", "linear", 4096, 5.0), _row("non-causal", "linear", 16384, 20.0),
            _row("non-causal", "elementwise", 4096, 5.0), _row("non-causal", "elementwise", 16384, None, status="OOM"),
            _row("causal", "linear", 4096, 3.0), _row("causal", "linear", 16384, 8.0),
            _row("causal", FLA_REFERENCE, 4096, None, status="skipped (fla needs CUDA)"),
            _row("causal", FLA_REFERENCE, 16384, None, status="skipped (fla needs CUDA)")]
    verdicts = evaluate(rows)
    assert _verdict(verdicts, "time vs SDPA at 16384", "linear")["verdict"] == "PASS"  # softmax OOM, linear ran
    assert _verdict(verdicts, "time vs SDPA at 16384", "elementwise")["verdict"] == "n/a: OOM"
    assert _verdict(verdicts, "memory 16384/4096 tokens", "elementwise")["verdict"] == "n/a: OOM"
    fla = _verdict(verdicts, "causal time vs fla kernel at 4096", "linear")
    assert fla["measured"] is None and fla["verdict"] == "n/a: skipped (fla needs CUDA)"


def test_check_command_runs_on_a_cpu_and_writes_its_tables(capsys, tmp_path):
    from lra_bench.cli import main

    out = tmp_path / "speed_check.md"
    assert main(["bench", "--check", "--attentions", "linear,linformer", "--lengths", "64,128", "--repeats", "1",
                 "--batch", "1", "--store", str(tmp_path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "### speed targets:" in text and "| linear" in text and "| linformer" in text
    assert "n/a: skipped (fla needs CUDA)" in text  # the yardstick is CUDA-only; no invented ratio
    assert "### causal train: time (vs softmax)" in text and "skipped (no causal form)" not in text.split("###")[1]
    assert "targets are for a GPU" in capsys.readouterr().out
    (record,) = tmp_path.glob("bench__*.json")
    assert '"form": "causal"' in record.read_text()


@pytest.mark.gpu
def test_fla_yardstick_computes_causal_linear_attention():
    """The reference kernel of `bench --check` is the same function as our causal `linear` (elu+1)."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    pytest.importorskip("fla")
    from lra_bench.attention import attention_schema, build_attention
    from lra_bench.bench.speed_check import FlaKernel

    torch.manual_seed(0)
    ours = build_attention(attention_schema("linear")(name="linear"), dim_head=64, num_heads=4, causal=True,
                           max_len=1024).cuda()
    q, k, v = (torch.randn(2, 4, 1000, 64, device="cuda") for _ in range(3))
    reference, fla = ours(q, k, v, None), FlaKernel()(q, k, v, None)
    assert ((fla - reference).abs().max() / reference.abs().max()).item() < 1e-3
