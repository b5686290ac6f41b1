"""cosFormer (Qin et al., ICLR 2022; authors' code OpenNLPLab/cosFormer; spec/attention.md "cosFormer").

Features relu(q), relu(k) without 1/sqrt(d), re-weighted by cos(pi/2 (i - j) / M), made linear by
cos(a_i - a_j) = cos a_i cos a_j + sin a_i sin a_j with a_i = pi/2 * i / M, i = 1..N:
f_i = [relu(q_i) sin a_i, relu(q_i) cos a_i] (feature size 2d); denominator clamped at eps = 1e-6.
M is each sequence's real length (padding-invariant default); `m_from_padded_length=True` uses the
padded tensor length, as the authors' code does (the two agree without padding).

Causal form, two properties the conformance suite reads from flags:
- `statistics_see_future`: M is the whole sequence's length (as in the authors' code), so an earlier
  output changes with the number of tokens that follow (3.8e-2 on a prefix test);
- `may_leave_empty_rows`: a query whose relu features are orthogonal to every key it sees (e.g. all
  its channels negative, or a causal query before any key that shares a positive channel) gets an
  empty row: numerator and denominator 0, the denominator clamped at eps, so its output is 0.
"""

import math

import torch

from .linear_core import kernel_prefill, kernel_state, kernel_step, linear_attention
from .masking import real_lengths
from .registry import Attention, register_attention


@register_attention("cosformer")
class CosFormerAttention(Attention):
    """Recurrent form: M is the planned sequence length (from `calibration`, else `max_len`) and the
    state carries the position."""

    supports_step = True
    fla_causal = True
    statistics_see_future = True
    may_leave_empty_rows = True

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
        position, m = positions[None, None, :, None], m[:, None, None, None]  # [1, 1, N, 1], [B, 1, 1, 1]
        return linear_attention(self._features(q, position, m), self._features(k, position, m), v,
                                key_padding_mask, self.causal, eps=self.eps, eps_mode="clamp",
                                chunk_size=self.chunk_size,
                                use_fla=self.use_fla(q))

    @staticmethod
    def _features(x, position, m):
        """[relu(x) sin a, relu(x) cos a] with a = pi/2 * i / M: the cos(a_i - a_j) re-weighting made
        linear (feature size 2d)."""
        angle = torch.as_tensor((math.pi / 2) * position / m, dtype=x.dtype, device=x.device)
        x = torch.relu(x)
        return torch.cat([x * torch.sin(angle), x * torch.cos(angle)], dim=-1)

    def init_state(self, batch, device, dtype, calibration=None):
        m = calibration[0].shape[2] if calibration is not None else self.max_len
        return {**kernel_state(batch, self.num_heads, 2 * self.dim_head, self.dim_head, device, dtype),
                "position": 0, "m": m}

    def prefill(self, q, k, v, calibration=None):
        m = calibration[0].shape[2] if calibration is not None else self.max_len
        position = torch.arange(1, q.shape[2] + 1, device=q.device, dtype=q.dtype)[:, None]
        state = kernel_prefill(self._features(q, position, m), self._features(k, position, m), v)
        return {**state, "position": q.shape[2], "m": m}

    def step(self, state, q, k, v):
        position = state["position"] + 1
        out, state = kernel_step(state, self._features(q, position, state["m"]), self._features(k, position, state["m"]),
                                 v, eps=self.eps, eps_mode="clamp")
        return out, {**state, "position": position}
