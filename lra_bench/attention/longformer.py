"""Longformer (Beltagy et al. 2020, arXiv 2004.05150): sliding-window softmax + global tokens, as LRA ran it.

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/longformer/longformer_attention.py`, `_build_sliding_window_mask`,
`_build_global_mask`, `LongformerAttention.apply`. Defaults from
`lra_benchmarks/models/longformer/longformer.py` (`LongformerEncoder.apply`: `sliding_window_size=512`,
`global_mask=None`); no LRA config (`lra_benchmarks/*/configs/longformer_base.py`) overrides them.

Window: right = window_size // 2 keys after i, left = window_size - right keys ending at i (i itself
included), so with 512: j - i in [-255, 256]. Causal (`causal_mask=True` in LRA): also j <= i.
One dense softmax with 1/sqrt(d) over the allowed keys (LRA: a -1e10 bias; O(N^2) memory, as LRA).

Global tokens: LRA passes `global_mask=None`, so no token is global and its global branch is computed
but never selected: LRA's Longformer is the sliding window alone (`num_global_tokens: 0`, default).
`num_global_tokens: g` makes the first g positions global (they attend to all, all attend to them),
the Longformer paper's CLS recipe. Departure: the paper and LRA's code give global attention its own
q, k, v projections; the attention contract passes one q, k, v, so global attention here reuses them.
"""

import torch

from .pattern_softmax import pattern_softmax
from .registry import Attention, register_attention


def sliding_window_pattern(n: int, window_size: int, num_global: int, causal: bool, device=None) -> torch.Tensor:
    pos = torch.arange(n, device=device)
    offset = pos[None, :] - pos[:, None]  # j - i
    right = window_size // 2
    left = window_size - right
    allowed = (offset > -left) & (offset <= right)
    is_global = pos < num_global
    allowed = allowed | is_global[:, None] | is_global[None, :]
    return allowed & (offset <= 0) if causal else allowed


@register_attention("longformer")
class LongformerAttention(Attention):
    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, window_size: int = 512,
                 num_global_tokens: int = 0):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.window_size, self.num_global_tokens = window_size, num_global_tokens

    def forward(self, q, k, v, key_padding_mask=None):
        allowed = sliding_window_pattern(q.shape[2], self.window_size, self.num_global_tokens, self.causal, q.device)
        return pattern_softmax(q, k, v, allowed, key_padding_mask)
