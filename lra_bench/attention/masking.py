"""Small mask helpers shared by variants (padding masks are [B, N], True = real token)."""

from __future__ import annotations

import torch


def real_lengths(key_padding_mask: torch.Tensor | None, batch: int, length: int, device) -> torch.Tensor:
    """Number of real tokens per sequence [B] (all `length` when there is no mask)."""
    if key_padding_mask is None:
        return torch.full((batch,), length, device=device)
    return key_padding_mask.sum(dim=-1)


def expand_mask(key_padding_mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """[B, N] mask -> [B, 1, N, 1] float of `like`'s dtype (ones when there is no mask)."""
    if key_padding_mask is None:
        return torch.ones(like.shape[0], 1, like.shape[2], 1, dtype=like.dtype, device=like.device)
    return key_padding_mask[:, None, :, None].to(like.dtype)


def pad_to_multiple(x: torch.Tensor, multiple: int, dim: int = 2) -> torch.Tensor:
    """Right-pad `x` with zeros along `dim` to a multiple of `multiple`."""
    pad = (-x.shape[dim]) % multiple
    if not pad:
        return x
    shape = list(x.shape)
    shape[dim] = pad
    return torch.cat([x, x.new_zeros(shape)], dim=dim)


def to_rows(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding_mask: torch.Tensor | None, m: int):
    """q, k, v [B, H, N, *] as rows (blocks) of m consecutive tokens [B, H, n, m, *], zero-filled at the
    end, and which positions are real tokens [B, 1, n, m] (padding and the fill are not)."""
    B, H, N, _ = q.shape
    real = torch.ones(B, N, dtype=torch.bool, device=q.device) if key_padding_mask is None else key_padding_mask
    qr, kr, vr = (pad_to_multiple(t, m).view(B, H, -1, m, t.shape[-1]) for t in (q, k, v))
    real_r = pad_to_multiple(real[:, None, :, None].to(q.dtype), m).view(B, 1, -1, m) > 0
    return qr, kr, vr, real_r
