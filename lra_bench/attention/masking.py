"""Small mask helpers shared by variants (padding masks are [B, N], True = real token)."""

from __future__ import annotations

import math

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


def grid_layout(max_len: int, row_length: int) -> tuple[int, int]:
    """Rows of m tokens (`row_length`, 0 = floor(sqrt(max_len))) that end where `max_len` ends, so the
    last m x floor(max_len / m) positions are a grid and the first max_len mod m positions (a CLS token)
    form a short first row: on Image and Pathfinder (1,024 pixels, 1,025 tokens with CLS) the rows are
    the 32 pixel rows. Returns (m, fill): `fill` not-real positions go before position 0."""
    m = row_length or math.isqrt(max_len)
    return m, (-max_len) % m


def to_grid_rows(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding_mask: torch.Tensor | None,
                 m: int, fill: int):
    """`to_rows` after `fill` not-real positions at the front (see `grid_layout`)."""
    if fill:
        B, _, N, _ = q.shape
        q, k, v = (torch.cat([t.new_zeros(*t.shape[:2], fill, t.shape[-1]), t], dim=2) for t in (q, k, v))
        real = torch.ones(B, N, dtype=torch.bool, device=q.device) if key_padding_mask is None else key_padding_mask
        key_padding_mask = torch.cat([real.new_zeros(B, fill), real], dim=1)
    return to_rows(q, k, v, key_padding_mask, m)


def from_grid_rows(x: torch.Tensor, length: int, fill: int) -> torch.Tensor:
    """[B, H, n, m, D] rows back to the sequence [B, H, length, D] (the front fill dropped)."""
    return x.reshape(*x.shape[:2], -1, x.shape[-1])[:, :, fill:fill + length]
