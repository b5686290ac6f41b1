"""Local attention, LRA's baseline (spec/attention.md "Classic LRA baselines"): softmax inside
non-overlapping blocks of `block_size` consecutive tokens (causal: j <= i inside a block)."""

from .block_softmax import block_diagonal_softmax
from .registry import Attention, register_attention


@register_attention("local")
class LocalAttention(Attention):
    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, block_size: int = 64):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.block_size = block_size

    def forward(self, q, k, v, key_padding_mask=None):
        return block_diagonal_softmax(q, k, v, key_padding_mask, self.block_size, self.causal)
