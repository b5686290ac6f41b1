"""Kernelised linear attention, the shared core of linear, cosFormer, LLN (spec/attention.md,
"The shared core").

Given non-negative features f_i = phi(q_i) and g_j = psi(k_j): o_i = f_i^T S / den_i with
S = sum_j g_j v_j^T and den_i = f_i^T z, z = sum_j g_j. The causal form is computed chunk by chunk:
the masked quadratic form inside a chunk of C positions, plus the state of all earlier chunks. Chunk
states come from one cumulative sum over chunks, so memory is (N / C) x d x d, never N x d x d.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .registry import FLA_AVAILABLE  # noqa: F401  (speed_check reads it here)


def linear_attention(f: torch.Tensor, g: torch.Tensor, v: torch.Tensor,
                     key_padding_mask: torch.Tensor | None, causal: bool, *, eps: float,
                     eps_mode: str = "add", chunk_size: int = 64, use_fla: bool = False) -> torch.Tensor:
    """o = (f S) / den for features f, g [B, H, N, F] and values v [B, H, N, D].

    `eps_mode`: "add" uses den + eps (linear, LLN); "clamp" uses max(den, eps) (cosFormer).
    Padded keys are zeroed in g, so they add nothing to S or z. `use_fla`: the causal numerator by
    fla's kernel (the caller's `Attention.use_fla` decides).
    """
    if key_padding_mask is not None:
        g = g * key_padding_mask[:, None, :, None].to(g.dtype)
    if causal and use_fla:
        num, den = _causal_fla(f, g, v)
    elif causal:
        num, den = _causal_chunked(f, g, v, chunk_size)
    else:
        state = torch.einsum("bhnf,bhnd->bhfd", g, v)
        num = torch.einsum("bhnf,bhfd->bhnd", f, state)
        den = torch.einsum("bhnf,bhf->bhn", f, g.sum(dim=2))
    den = den + eps if eps_mode == "add" else den.clamp_min(eps)
    return num / den.unsqueeze(-1)


def _causal_chunked(f, g, v, chunk_size):
    """Numerator and denominator of causal linear attention, chunk-parallel (no per-position state)."""
    B, H, N, Fdim = f.shape
    C = min(chunk_size, N)
    pad = (-N) % C
    if pad:
        f, g, v = (F.pad(t, (0, 0, 0, pad)) for t in (f, g, v))
    n = f.shape[2] // C
    fc, gc, vc = (t.reshape(B, H, n, C, t.shape[-1]) for t in (f, g, v))
    # State after each chunk, then shifted: chunk c sees the sum over chunks < c.
    kv = torch.einsum("bhncf,bhncd->bhnfd", gc, vc).cumsum(dim=2)
    kv = torch.cat([torch.zeros_like(kv[:, :, :1]), kv[:, :, :-1]], dim=2)
    z = gc.sum(dim=3).cumsum(dim=2)
    z = torch.cat([torch.zeros_like(z[:, :, :1]), z[:, :, :-1]], dim=2)
    tril = torch.ones(C, C, dtype=torch.bool, device=f.device).tril()
    scores = torch.einsum("bhncf,bhnsf->bhncs", fc, gc).masked_fill(~tril, 0.0)
    num = torch.einsum("bhncs,bhnsd->bhncd", scores, vc) + torch.einsum("bhncf,bhnfd->bhncd", fc, kv)
    den = scores.sum(dim=-1) + torch.einsum("bhncf,bhnf->bhnc", fc, z)
    return num.reshape(B, H, n * C, -1)[:, :, :N], den.reshape(B, H, n * C)[:, :, :N]


def _causal_fla(f, g, v):
    """Numerator by fla's `chunk_linear_attn` (scale 1, normalize=False: its normaliser adds 1e-10, so
    ours is applied instead; spec/attention.md "Fast paths"); denominator f_i . cumsum(g)_i, O(N F)."""
    from fla.ops.linear_attn import chunk_linear_attn

    num, _ = chunk_linear_attn(f.transpose(1, 2), g.transpose(1, 2), v.transpose(1, 2), scale=1.0, normalize=False)
    den = (f * g.cumsum(dim=2)).sum(dim=-1)
    return num.transpose(1, 2).to(v.dtype), den


# -- recurrent form: a constant-size state (S, z) per head ------------------------------------------

def kernel_state(batch: int, heads: int, features: int, dim: int, device, dtype) -> dict:
    return {"S": torch.zeros(batch, heads, features, dim, device=device, dtype=dtype),
            "z": torch.zeros(batch, heads, features, device=device, dtype=dtype)}


def kernel_prefill(f: torch.Tensor, g: torch.Tensor, v: torch.Tensor) -> dict:
    """(S, z) after a prompt: S = sum_j g_j v_j^T, z = sum_j g_j."""
    return {"S": torch.einsum("bhnf,bhnd->bhfd", g, v), "z": g.sum(dim=2)}


def kernel_step(state: dict, f: torch.Tensor, g: torch.Tensor, v: torch.Tensor, *, eps: float,
                eps_mode: str = "add"):
    """S_i = S_{i-1} + g_i v_i^T, z_i = z_{i-1} + g_i, o_i = f_i^T S_i / den_i, for one token [B, H, *]."""
    S = state["S"] + g[..., :, None] * v[..., None, :]
    z = state["z"] + g
    den = torch.einsum("bhf,bhf->bh", f, z)
    den = den + eps if eps_mode == "add" else den.clamp_min(eps)
    return torch.einsum("bhf,bhfd->bhd", f, S) / den[..., None], {**state, "S": S, "z": z}
