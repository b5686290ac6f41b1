"""Recurrent inference (spec/attention.md causal forms): for every variant with a step API, feeding a
sequence one token at a time equals the parallel causal form, and so does prefill + steps. float64."""

import pytest
import torch

from lra_bench.attention import attention_schema, build_attention, get_attention_class, list_attentions

STEP_VARIANTS = [n for n in list_attentions() if get_attention_class(n).supports_step]
B, H, D, N = 2, 2, 8, 23


def _setup(name, seed=0):
    torch.manual_seed(seed)
    # a variant names the hyperparameters under which both forms are equal exactly (LLN: eps = 0, its eps
    # acts on a denominator shifted by the global key max in parallel, by the running max step by step)
    hyper = get_attention_class(name).step_equals_parallel_with
    module = build_attention(attention_schema(name)(name=name, **hyper), dim_head=D, num_heads=H, causal=True,
                             max_len=64).double().eval()
    q, k, v = (torch.randn(B, H, N, D, dtype=torch.float64) for _ in range(3))
    return module, q, k, v


def test_the_seed_variants_and_softmax_have_a_step_api():
    assert {"softmax", "linear", "cosformer", "lln", "latte", "elementwise"} <= set(STEP_VARIANTS)


@pytest.mark.parametrize("name", STEP_VARIANTS)
def test_step_by_step_equals_the_parallel_causal_form(name):
    module, q, k, v = _setup(name)
    parallel = module(q, k, v, None)
    state = module.init_state(B, q.device, q.dtype, calibration=(q, k, v))
    outputs = []
    for t in range(N):
        out, state = module.step(state, q[:, :, t], k[:, :, t], v[:, :, t])
        outputs.append(out)
    torch.testing.assert_close(torch.stack(outputs, dim=2), parallel, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", STEP_VARIANTS)
def test_prefill_then_steps_equals_the_parallel_causal_form(name):
    module, q, k, v = _setup(name)
    parallel = module(q, k, v, None)
    state = module.prefill(q[:, :, :10], k[:, :, :10], v[:, :, :10], calibration=(q, k, v))
    for t in range(10, N):
        out, state = module.step(state, q[:, :, t], k[:, :, t], v[:, :, t])
        torch.testing.assert_close(out, parallel[:, :, t], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", [n for n in STEP_VARIANTS if n != "softmax"])
def test_recurrent_state_does_not_grow_with_length(name):
    module, q, k, v = _setup(name)
    state = module.init_state(B, q.device, q.dtype)
    sizes = []
    for t in range(N):
        _, state = module.step(state, q[:, :, t], k[:, :, t], v[:, :, t])
        sizes.append(sum(x.numel() for x in state.values() if torch.is_tensor(x)))
    if get_attention_class(name).constant_state:
        assert len(set(sizes)) == 1, sizes
    else:  # a bounded buffer (LLN+Diag's current block): the second half never outgrows the first
        assert max(sizes[N // 2:]) <= max(sizes[:N // 2]), sizes


def test_softmax_cache_grows_one_token_per_step():
    module, q, k, v = _setup("softmax")
    state = module.init_state(B, q.device, q.dtype)
    for t in range(5):
        _, state = module.step(state, q[:, :, t], k[:, :, t], v[:, :, t])
    assert state["length"] == 5 and state["k"].shape[2] >= 5


def gla_recurrence(query, key, v, gate):
    """Gated linear attention step by step (fla's `naive_recurrent_gla` semantics, scale 1):
    S_t = exp(g_t) S_{t-1} + key_t v_t^T, o_t = query_t S_t."""
    B, H, N, L = query.shape
    S = torch.zeros(B, H, L, v.shape[-1], dtype=v.dtype)
    out = []
    for t in range(N):
        S = S * gate[:, :, t, :, None].exp() + key[:, :, t, :, None] * v[:, :, t, None, :]
        out.append(torch.einsum("bhl,bhld->bhd", query[:, :, t], S))
    return torch.stack(out, dim=2)


@pytest.mark.parametrize("magnitude", [1.0, 50.0])
def test_latte_as_gated_linear_attention_equals_the_causal_scan(magnitude):
    """The inputs the CUDA path hands to fla's chunk_gla reproduce causal Latte, with padding and with
    key logits large enough to overflow an unstabilised exp."""
    from lra_bench.attention.latte import causal_latte, latte_as_gla

    g = torch.Generator().manual_seed(0)
    p_latent = torch.randn(2, 2, 23, 8, generator=g, dtype=torch.float64).softmax(-1)
    logits = magnitude * torch.randn(2, 2, 23, 8, generator=g, dtype=torch.float64)
    v = torch.randn(2, 2, 23, 5, generator=g, dtype=torch.float64)
    logits[1, :, 17:] = float("-inf")  # padded keys, as LatteAttention.forward marks them
    expected = causal_latte(p_latent, logits, v, chunk_size=5)
    query, key, gate = latte_as_gla(p_latent, logits)
    assert (gate <= 0).all() and (key <= 1).all() and (query <= 1 + 1e-12).all()  # bounded: bf16-safe
    torch.testing.assert_close(gla_recurrence(query, key, v, gate), expected, atol=1e-9, rtol=0)
