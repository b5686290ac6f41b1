"""Softmax attention (Vaswani et al. 2017), the reference row (spec/attention.md, "softmax").

Computed by `F.scaled_dot_product_attention` (flash / memory-efficient kernels on a GPU) with scale
1/sqrt(d); the explicit quadratic form lives only in the tests, as the oracle.

Rechecked against LRA's Transformer (google-research/long-range-arena, commit
cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8, `lra_benchmarks/models/transformer/transformer.py`,
`TransformerBlock.apply`: flax `nn.SelfAttention` with `padding_mask`, i.e. `dot_product_attention`
with q scaled by 1/sqrt(d) and a -1e10 bias on pairs where the query or the key is padding): the same
function at every real query (padded keys get weight exp(-1e10) = 0 there as here). The one difference
is at padded QUERY positions, whose outputs reach no real output: LRA masks the whole row (uniform
weights in float32), ours masks keys only, so a padded query attends to the real keys.
"""

import torch
import torch.nn.functional as F

from .registry import Attention, register_attention


@register_attention("softmax")
class SoftmaxAttention(Attention):
    """Recurrent form: a key/value cache that grows by one token per step (the honest comparison),
    preallocated with doubling capacity so a step does not copy the whole cache."""

    bf16_tolerance = 0.03
    supports_step = True
    full_attention = True

    def init_state(self, batch, device, dtype, calibration=None):
        empty = torch.zeros(batch, self.num_heads, 16, self.dim_head, device=device, dtype=dtype)
        return {"k": empty, "v": empty.clone(), "length": 0}

    def prefill(self, q, k, v, calibration=None):
        return {"k": k, "v": v, "length": k.shape[2]}

    def step(self, state, q, k, v):
        n, keys, values = state["length"], state["k"], state["v"]
        if n == keys.shape[2]:  # full: double the capacity
            keys = torch.cat([keys, torch.zeros_like(keys)], dim=2)
            values = torch.cat([values, torch.zeros_like(values)], dim=2)
        keys[:, :, n], values[:, :, n] = k, v
        out = F.scaled_dot_product_attention(q[:, :, None], keys[:, :, :n + 1], values[:, :, :n + 1])[:, :, 0]
        return out, {"k": keys, "v": values, "length": n + 1}

    def forward(self, q, k, v, key_padding_mask=None):
        if key_padding_mask is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        mask = key_padding_mask[:, None, None, :]  # [B, 1, 1, N]: True = attend
        if self.causal:
            n = q.shape[2]
            mask = mask & torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
