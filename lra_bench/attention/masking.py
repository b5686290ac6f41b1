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
