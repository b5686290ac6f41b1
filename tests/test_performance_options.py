"""GPU performance options, checked on a CPU: bf16 autocast and torch.compile change results only
within tolerance; the input pipeline reports its data-wait share; the fla fast path (CUDA) matches
our chunked form."""

import pytest
import torch

from lra_bench.attention import attention_schema, build_attention
from lra_bench.config import ModelConfig, TrainerConfig
from lra_bench.model import Classifier
from lra_bench.train import Trainer
from test_train import _toy_task


def _curve(tmp_path, attention="linear", **options):
    torch.manual_seed(0)
    data = _toy_task()
    model = Classifier(ModelConfig(name="t", dim=32, depth=1, num_heads=2, mlp_dim=32, dropout=0.0),
                       attention_schema(attention)(name=attention), vocab_size=11, max_len=12, num_classes=2)
    config = TrainerConfig(max_steps=8, batch_size=32, lr=3e-3, warmup_steps=2, eval_every=4, log_every=1,
                           progress=False, **options)
    trainer = Trainer(model, data, config, seed=0, checkpoint_dir=tmp_path / str(sorted(options.items())))
    result = trainer.fit()
    return [loss for _, loss in result.loss_curve], result


def test_defaults_on_cpu_are_fp32_eager(tmp_path):
    _, result = _curve(tmp_path)
    assert result.throughput["precision"] == "fp32" and result.throughput["compiled"] is False
    assert 0.0 <= result.throughput["data_wait_share"] < 1.0


def test_bf16_autocast_changes_the_loss_curve_only_within_tolerance(tmp_path):
    fp32, _ = _curve(tmp_path, precision="fp32")
    bf16, result = _curve(tmp_path, precision="bf16")
    assert result.throughput["precision"] == "bf16"
    assert fp32 != bf16  # bf16 really ran
    assert max(abs(a - b) for a, b in zip(fp32, bf16)) < 0.05


def test_torch_compile_matches_eager(tmp_path):
    eager, _ = _curve(tmp_path, compile=False)
    compiled, result = _curve(tmp_path, compile=True)
    assert result.throughput["compiled"] is True
    assert max(abs(a - b) for a, b in zip(eager, compiled)) < 1e-4


def test_prefetch_off_gives_the_same_curve(tmp_path):
    on, _ = _curve(tmp_path, prefetch=True)
    off, _ = _curve(tmp_path, prefetch=False)
    assert on == off


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["linear", "cosformer", "lln", "latte"])  # latte: through chunk_gla
def test_fla_causal_path_matches_the_chunked_reference(name, monkeypatch):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    pytest.importorskip("fla")
    torch.manual_seed(0)
    module = build_attention(attention_schema(name)(name=name), dim_head=64, num_heads=4, causal=True,
                             max_len=2048).cuda()
    q, k, v = (torch.randn(2, 4, 1000, 64, device="cuda") for _ in range(3))
    fast = module(q, k, v, None)
    monkeypatch.setenv("LRA_BENCH_FLA", "0")
    reference = module(q, k, v, None)
    assert ((fast - reference).abs().max() / reference.abs().max()).item() < 1e-3


def test_every_model_of_a_sweep_is_compiled_not_only_the_first_eight():
    """Dynamo guards MultiHeadAttention.forward on the attention class; past its recompile limit it
    silently runs eager. compile_fresh clears the caches, so the Nth variant in one process compiles too."""
    import torch._dynamo
    from torch._dynamo.utils import counters

    from lra_bench.bench.layer import BenchSettings, build_layer
    from lra_bench.train import compile_fresh

    x = torch.randn(1, 16, 32)
    with torch._dynamo.config.patch(recompile_limit=1):
        for name in ("linear", "softmax", "lln"):
            before = counters["stats"]["unique_graphs"]
            compile_fresh(build_layer(name, BenchSettings(dim=32, num_heads=2), 16), backend="eager")(x, None)
            assert counters["stats"]["unique_graphs"] > before, f"{name} ran eager"


def test_compile_mode_reduce_overhead_matches_eager_and_bad_modes_are_named(tmp_path):
    from lra_bench.errors import ConfigError

    eager, _ = _curve(tmp_path, compile=False)
    graphs, result = _curve(tmp_path, compile=True, compile_mode="reduce-overhead")  # CUDA graphs: a no-op on a CPU
    assert result.throughput["compiled"] is True
    assert max(abs(a - b) for a, b in zip(eager, graphs)) < 1e-4
    with pytest.raises(ConfigError, match="trainer.compile_mode: expected one of default, reduce-overhead"):
        TrainerConfig(compile_mode="fast")
