"""Sinkhorn Transformer attention (Tay et al., ICML 2020, arXiv 2002.11296), as LRA's code computes it.

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/sinkhorn_transformer/sinkhorn_attention.py`, `SinkhornAttention.apply` and
`local_dot_product_attention`. Defaults: `block_size=50` (`sinkhorn_transformer.py`,
`SinkhornTransformerEncoder.apply`; the Image/Pathfinder configs `image/configs/*/sinkhorn_base.py`
set `config.model.block_size = 64`), `max_num_blocks=25` and `sort_activation='softmax'`
(`SinkhornAttention.apply`; no LRA file passes either).

What that code computes (non-causal), per head, for N = nb * b tokens (b = block size):
1. Blocks are STRIDED, not consecutive: LRA reshapes [N] to [b, nb], so block n holds tokens
   s * nb + n, s = 0..b-1. Local part: softmax attention with 1/sqrt(d) inside each block.
2. Sorting net: the sum of each block's keys -> a dense layer (d -> max_num_blocks, shared by the
   heads) -> softmax over the last axis = P [nb, nb]. Sorted keys are
   `einsum('bskhd,bnhl->bsnhd', block_key, P)`: the indices k and l each occur in one operand only,
   so this is (sum over blocks of the keys at slot s) x (sum_l P[n, l] = 1). Every block's "sorted"
   keys and values are the same block-summed ones, and the sorting net only scales them by a softmax
   row sum (1; its gradient is 0). We compute exactly that einsum. Sorted part: softmax attention of
   each block's queries over these b summed keys/values.
3. Output = local part + sorted part (two softmaxes added, not one joint softmax).
4. Padding, as LRA: the key mask of block n is taken from CONSECUTIVE tokens n*b..n*b+b-1 (LRA reshapes
   the padding mask differently from the queries), query mask x key mask, as a -1e10 bias; the sorted
   part's mask at slot pair (s, j) is "some consecutive block has both s and j real". With no padding
   these masks are all true.

So this is not the paper's Sinkhorn sorting: that is the function behind LRA's Table 1 row. LRA's
`sort_activation='sinkhorn'` path (Sinkhorn balancing) was never selected by an LRA config and its
causal path does not run (its L x L causal mask does not broadcast to the blocked logits): not
reproduced; non-causal only. Departures: LRA needs b to divide N; we append zero fill tokens (masked
as padding) up to a multiple of b. The pattern depends on the padded length: not padding-invariant.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Attention, register_attention
from .synthesizer_random import lecun_normal_

MASK_BIAS = -1e10  # LRA's additive mask value


def blocked_softmax(logits, allowed, values):
    """softmax over the last axis of logits + LRA's -1e10 bias where not allowed, times values."""
    logits = logits + torch.where(allowed, 0.0, MASK_BIAS).to(logits.dtype)
    return logits.softmax(-1) @ values


@register_attention("sinkhorn")
class SinkhornAttention(Attention):
    supports_causal = False
    padding_invariant = False

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, block_size: int = 50,
                 max_num_blocks: int = 25):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.block_size = block_size
        self.sort_weight = nn.Parameter(lecun_normal_(torch.empty(dim_head, max_num_blocks), dim_head))
        self.sort_bias = nn.Parameter(torch.zeros(max_num_blocks))

    def forward(self, q, k, v, key_padding_mask=None):
        B, H, N, d = q.shape
        b = self.block_size
        fill = (-N) % b
        real = torch.ones(B, N, dtype=torch.bool, device=q.device) if key_padding_mask is None else key_padding_mask
        real = F.pad(real, (0, fill), value=False)
        q, k, v = (F.pad(t, (0, 0, 0, fill)) for t in (q, k, v))
        nb = (N + fill) // b
        qb, kb, vb = (t.view(B, H, b, nb, t.shape[-1]).transpose(2, 3) for t in (q, k, v))  # [B, H, nb, b, *]
        consecutive = real.view(B, nb, b)
        local_mask = (consecutive[:, :, :, None] & consecutive[:, :, None, :])[:, None]  # [B, 1, nb, b, b]
        scale = 1 / math.sqrt(d)
        local = blocked_softmax(qb @ kb.transpose(-1, -2) * scale, local_mask, vb)
        sort_logits = kb.sum(dim=3) @ self.sort_weight.to(q.dtype) + self.sort_bias.to(q.dtype)  # [B, H, nb, max]
        perm = sort_logits[..., :nb].softmax(-1)  # [B, H, n, l]
        sorted_k = torch.einsum("bhksd,bhnl->bhnsd", kb, perm)
        sorted_v = torch.einsum("bhksd,bhnl->bhnsd", vb, perm)
        sorted_mask = local_mask.any(dim=2, keepdim=True)  # LRA: einsum('bksj,bnhl->bnsj', mask, P) > 0
        summed = blocked_softmax(qb @ sorted_k.transpose(-1, -2) * scale, sorted_mask, sorted_v)
        out = (local + summed).transpose(2, 3).reshape(B, H, N + fill, v.shape[-1])
        return out[:, :, :N]
