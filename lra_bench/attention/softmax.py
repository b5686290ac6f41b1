"""Softmax attention (Vaswani et al. 2017), the reference row (spec/attention.md, "softmax").

Computed by `F.scaled_dot_product_attention` (flash / memory-efficient kernels on a GPU) with scale
1/sqrt(d); the explicit quadratic form lives only in the tests, as the oracle.
"""

import torch
import torch.nn.functional as F

from .registry import Attention, register_attention


@register_attention("softmax")
class SoftmaxAttention(Attention):
    bf16_tolerance = 0.03

    def forward(self, q, k, v, key_padding_mask=None):
        if key_padding_mask is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        mask = key_padding_mask[:, None, None, :]  # [B, 1, 1, N]: True = attend
        if self.causal:
            n = q.shape[2]
            mask = mask & torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
