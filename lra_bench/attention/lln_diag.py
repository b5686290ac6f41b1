"""LLN + Diag (the authors' `LLNPlusDiagAttention`, ynahshan/linear-lognormal-attention at commit
92505b9a19a0385764f1dabc4c27c0a8161d01c0, `lln/lln_attention.py`; spec/attention.md "LLN + Diag").

LLN (lln.py, same statistics and eps) plus a block-diagonal softmax branch on the raw q, k with
1/sqrt(d) inside blocks of d consecutive tokens (the last N mod d tokens form a smaller block),
combined as (o_LLN + o_diag) / 2 (`combine: mean`, the authors' `average`), or with learnable
per-head-channel weights (`learnable_scale`: r o_LLN + p o_diag; `learnable_ratio`: r o_LLN + (1 - r) o_diag).
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .block_softmax import block_diagonal_softmax
from .lln import LLNAttention
from .registry import register_attention


@register_attention("lln_diag")
class LLNDiagAttention(LLNAttention):
    """Recurrent form: the LLN state plus the keys and values of the current diagonal block (<= d tokens)."""

    constant_state = False

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, eps: float = 1e-5,
                 lln_stats: str = "batch", chunk_size: int = 64, combine: str = "mean"):
        super().__init__(dim_head, num_heads, causal, max_len, eps, lln_stats, chunk_size)
        if combine not in ("mean", "learnable_scale", "learnable_ratio"):
            raise ConfigError(f"attention.combine: expected mean, learnable_scale or learnable_ratio, got '{combine}'")
        self.combine = combine
        if combine == "learnable_scale":
            self.r = nn.Parameter(torch.full((num_heads, 1, dim_head), 0.5))
            self.p = nn.Parameter(torch.full((num_heads, 1, dim_head), 0.5))
        elif combine == "learnable_ratio":
            self.r = nn.Parameter(torch.full((num_heads, 1, dim_head), 0.5))

    def forward(self, q, k, v, key_padding_mask=None):
        o_lln = self.lln(q, k, v, key_padding_mask)
        o_diag = block_diagonal_softmax(q, k, v, key_padding_mask, self.dim_head, self.causal)
        return self._combine(o_lln, o_diag)

    def _combine(self, o_lln, o_diag):
        if self.combine == "mean":
            return (o_lln + o_diag) / 2
        r = self.r if o_lln.ndim == 4 else self.r[:, 0]  # [H, 1, d] for sequences, [H, d] for one token
        if self.combine == "learnable_scale":
            return r * o_lln + (self.p if o_lln.ndim == 4 else self.p[:, 0]) * o_diag
        return r * o_lln + (1 - r) * o_diag

    def init_state(self, batch, device, dtype, calibration=None):
        empty = torch.zeros(batch, self.num_heads, 0, self.dim_head, device=device, dtype=dtype)
        return {**super().init_state(batch, device, dtype, calibration), "block_k": empty, "block_v": empty,
                "count": 0}

    def prefill(self, q, k, v, calibration=None):
        start = (q.shape[2] // self.dim_head) * self.dim_head
        return {**super().prefill(q, k, v, calibration), "block_k": k[:, :, start:], "block_v": v[:, :, start:],
                "count": q.shape[2]}

    def step(self, state, q, k, v):
        o_lln, state = super().step(state, q, k, v)
        fresh = state["count"] % self.dim_head == 0
        block_k = torch.cat([state["block_k"][:, :, :0] if fresh else state["block_k"], k[:, :, None]], dim=2)
        block_v = torch.cat([state["block_v"][:, :, :0] if fresh else state["block_v"], v[:, :, None]], dim=2)
        o_diag = F.scaled_dot_product_attention(q[:, :, None], block_k, block_v)[:, :, 0]
        return self._combine(o_lln, o_diag), {**state, "block_k": block_k, "block_v": block_v,
                                              "count": state["count"] + 1}
