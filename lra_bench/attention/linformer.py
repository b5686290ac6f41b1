"""Linformer (Wang et al. 2020; spec/attention.md "Classic LRA baselines"; xformers' linformer.py).

Keys and values are projected along the length axis by learned E, F in R^{k x max_len} (k = 256,
shared across heads), then softmax attention over the k projected keys. Needs `max_len`;
non-causal only. Padded keys and values are zeroed before the projection, so padding adds nothing.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Attention, register_attention


@register_attention("linformer")
class LinformerAttention(Attention):
    supports_causal = False
    needs_max_len = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, proj_len: int = 256):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.E = nn.Parameter(torch.randn(proj_len, max_len) / max_len**0.5)
        self.F = nn.Parameter(torch.randn(proj_len, max_len) / max_len**0.5)

    def forward(self, q, k, v, key_padding_mask=None):
        N = q.shape[2]
        if key_padding_mask is not None:
            keep = key_padding_mask[:, None, :, None].to(k.dtype)
            k, v = k * keep, v * keep
        k = torch.einsum("pn,bhnd->bhpd", self.E[:, :N].to(k.dtype), k)
        v = torch.einsum("pn,bhnd->bhpd", self.F[:, :N].to(v.dtype), v)
        return F.scaled_dot_product_attention(q, k, v)
