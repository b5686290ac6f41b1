"""Sparse Transformer, the "fixed" pattern (Child et al. 2019, arXiv 1904.10509, Sec. 4.2) as LRA ran it.

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/sparse_transformer/sparse_attention.py`, `_build_mask` / `build_mask` /
`SparseAttention.apply`; the pattern LRA trained with is set in `lra_benchmarks/utils/train_utils.py`
`get_model` (model_type 'sparse_transformer'): `Fixed1Pattern(block_size=50)` OR
`Fixed2Pattern(block_size=50, c=10)`, merged into one mask shared by all heads.

Query i may attend key j when j <= i and (i // 50 == j // 50, or j mod 50 == 0, or j mod 50 >= 40).
LRA's patterns are causal on every task ("all attention patterns are causal", module docstring), the
classification tasks included: so this variant is causal in both forms, and `causal=True` gives the
same function. The weights are one dense softmax with 1/sqrt(d) over the allowed keys, as LRA's
`nn.attention.dot_product_attention` with a -1e10 bias (O(N^2) memory, as in LRA).

Departures: with CLS pooling LRA leaves the CLS position (index 0) out of the pattern (its row and
column all allowed, `use_cls_token`); the attention contract does not say whether token 0 is a CLS,
so that is the option `cls_token_global` (default False; set True with `model.pooling: cls` to match
LRA's recipe). Note the "fixed" pattern's second head (`Fixed2Pattern`) in the paper marks the last c
positions of each block as summaries; LRA's code also lets every query see the first position of
each block (`remainder == 0`): we follow the code.
"""

import torch

from .pattern_softmax import pattern_softmax
from .registry import Attention, register_attention


def fixed_pattern(n: int, block_size: int, summary: int, device=None) -> torch.Tensor:
    """[n, n] bool: LRA's merged Fixed1 | Fixed2 patterns, causal."""
    pos = torch.arange(n, device=device)
    i, j = pos[:, None], pos[None, :]
    same_block = (i // block_size) == (j // block_size)
    offset = j % block_size
    summary_key = (offset == 0) | (offset >= block_size - summary)
    return (j <= i) & (same_block | summary_key)


@register_attention("sparse_transformer")
class SparseTransformerAttention(Attention):
    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, block_size: int = 50, summary: int = 10,
                 cls_token_global: bool = False):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.block_size, self.summary, self.cls_token_global = block_size, summary, cls_token_global

    def pattern(self, n: int, device=None) -> torch.Tensor:
        if not self.cls_token_global:
            return fixed_pattern(n, self.block_size, self.summary, device)
        allowed = torch.ones(n, n, dtype=torch.bool, device=device)
        allowed[1:, 1:] = fixed_pattern(n - 1, self.block_size, self.summary, device)
        return allowed

    def forward(self, q, k, v, key_padding_mask=None):
        return pattern_softmax(q, k, v, self.pattern(q.shape[2], q.device), key_padding_mask)
