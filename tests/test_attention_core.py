"""Oracles for softmax and linear attention (spec/attention.md), float64, explicit quadratic forms."""

import pytest
import torch
import torch.nn.functional as F

from lra_bench.attention import attention_schema, build_attention
from lra_bench.attention.linear_core import linear_attention


def _qkv(B=2, H=3, N=23, D=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, N, D, generator=g, dtype=torch.float64) for _ in range(3)]


def _mask(B, N, lengths):
    return torch.arange(N)[None, :] < torch.tensor(lengths)[:, None]


def _build(name, causal, **hyper):
    return build_attention(attention_schema(name)(name=name, **hyper), dim_head=8, num_heads=3, causal=causal,
                           max_len=64)


def explicit_softmax(q, k, v, mask, causal):
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    allowed = mask[:, None, None, :].expand_as(scores).clone()
    if causal:
        allowed &= torch.ones_like(allowed[0, 0], dtype=torch.bool).tril()
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


def explicit_linear(f, g, v, mask, causal, eps):
    a = f @ g.transpose(-1, -2) * mask[:, None, None, :]
    if causal:
        a = a.tril()
    return (a @ v) / (a.sum(-1, keepdim=True) + eps)


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_softmax_equals_explicit(causal):
    q, k, v = _qkv()
    mask = _mask(2, 23, [23, 15])
    out = _build("softmax", causal)(q, k, v, mask)
    ref = explicit_softmax(q, k, v, mask, causal)
    real = mask[:, None, :, None]
    torch.testing.assert_close(out * real, ref * real, atol=1e-10, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_linear_equals_explicit(causal):
    q, k, v = _qkv()
    mask = _mask(2, 23, [23, 15])
    out = _build("linear", causal, mask_padding=True)(q, k, v, mask)
    ref = explicit_linear(F.elu(q) + 1, F.elu(k) + 1, v, mask, causal, 1e-6)
    real = mask[:, None, :, None]
    torch.testing.assert_close(out * real, ref * real, atol=1e-10, rtol=0)


@pytest.mark.parametrize("chunk", [1, 5, 16, 23, 64])
def test_oracle_causal_chunked_equals_recurrence(chunk):
    """spec/attention.md, shared core oracle (2): chunked prefix sums = S_i = S_{i-1} + g_i v_i^T."""
    q, k, v = _qkv(N=23)
    f, g = F.elu(q) + 1, F.elu(k) + 1
    out = linear_attention(f, g, v, None, causal=True, eps=1e-6, chunk_size=chunk)
    state = torch.zeros(2, 3, 8, 8, dtype=torch.float64)
    z = torch.zeros(2, 3, 8, dtype=torch.float64)
    steps = []
    for i in range(23):
        state = state + g[:, :, i, :, None] * v[:, :, i, None, :]
        z = z + g[:, :, i]
        num = torch.einsum("bhf,bhfd->bhd", f[:, :, i], state)
        steps.append(num / (torch.einsum("bhf,bhf->bh", f[:, :, i], z)[..., None] + 1e-6))
    torch.testing.assert_close(out, torch.stack(steps, dim=2), atol=1e-10, rtol=0)


def test_clamp_mode_clamps_the_denominator():
    f = torch.zeros(1, 1, 3, 2, dtype=torch.float64)
    g = torch.ones(1, 1, 3, 2, dtype=torch.float64)
    v = torch.ones(1, 1, 3, 2, dtype=torch.float64)
    out = linear_attention(f, g, v, None, causal=False, eps=1e-6, eps_mode="clamp")
    assert torch.isfinite(out).all() and out.abs().max() == 0
