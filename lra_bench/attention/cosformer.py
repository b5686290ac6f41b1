"""cosFormer (Qin et al., ICLR 2022; authors' code OpenNLPLab/cosFormer; spec/attention.md "cosFormer").

Features relu(q), relu(k) without 1/sqrt(d), re-weighted by cos(pi/2 (i - j) / M), made linear by
cos(a_i - a_j) = cos a_i cos a_j + sin a_i sin a_j with a_i = pi/2 * i / M, i = 1..N:
f_i = [relu(q_i) sin a_i, relu(q_i) cos a_i] (feature size 2d); denominator clamped at eps = 1e-6.
M is each sequence's real length (padding-invariant default); `m_from_padded_length=True` uses the
padded tensor length, as the authors' code does (the two agree without padding).
"""

import math

import torch

from .linear_core import linear_attention
from .masking import real_lengths
from .registry import Attention, register_attention


@register_attention("cosformer")
class CosFormerAttention(Attention):
    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, eps: float = 1e-6,
                 m_from_padded_length: bool = False, chunk_size: int = 64):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.eps, self.m_from_padded_length, self.chunk_size = eps, m_from_padded_length, chunk_size

    def forward(self, q, k, v, key_padding_mask=None):
        B, _, N, _ = q.shape
        positions = torch.arange(1, N + 1, device=q.device, dtype=q.dtype)
        if self.m_from_padded_length:
            m = torch.full((B,), N, device=q.device, dtype=q.dtype)
        else:
            m = real_lengths(key_padding_mask, B, N, q.device).to(q.dtype)
        angle = (math.pi / 2) * positions[None, :] / m[:, None]  # [B, N]
        sin, cos = angle.sin()[:, None, :, None], angle.cos()[:, None, :, None]
        q, k = torch.relu(q), torch.relu(k)
        f = torch.cat([q * sin, q * cos], dim=-1)
        g = torch.cat([k * sin, k * cos], dim=-1)
        return linear_attention(f, g, v, key_padding_mask, self.causal, eps=self.eps, eps_mode="clamp",
                                chunk_size=self.chunk_size)
