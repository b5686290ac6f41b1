"""Combiner-Fixed (Ren et al., NeurIPS 2021, Sec. 3.2 and Eq. 10; authors' code google-research
`combiner/`; spec/attention.md "Combiner").

Full attention with a structured factorisation: query i attends directly to its own block of s
consecutive tokens (causal: j <= i) and to every other block r (causal: earlier blocks) through a
summary: key k^_r = max-pool of the block's keys, value v^_r = sum_j p(j|r) v_j with
p(j|r) = softmax over the block of q^_r . k_j / sqrt(d), q^_r = max-pool of the block's queries.
One joint softmax over [direct logits; region logits] (Eq. 9), no log-size correction; pooling and
the within-block softmax use real tokens only; a block with no real token is no region.
`block_size: 0` means ceil(sqrt(max_len)): the spec's ceil(sqrt(N)) for LRA's fixed length N = max_len,
and independent of how a batch was padded (a block size from the padded length would not be). `own_block_summary` also lets a non-causal query see its own
block's summary (the TF code does, the paper does not). Axial: `combiner_axial`; Mixture:
`combiner_mixture` (causal only, as the authors' JAX code).
"""

import math

import torch

from .masking import to_rows
from .registry import Attention, register_attention


@register_attention("combiner")
class CombinerAttention(Attention):
    full_attention = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, block_size: int = 0,
                 own_block_summary: bool = False):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.block_size, self.own_block_summary = block_size, own_block_summary

    def forward(self, q, k, v, key_padding_mask=None):
        B, H, N, D = q.shape
        s = self.block_size or math.ceil(math.sqrt(self.max_len))
        scale = D**-0.5
        qb, kb, vb, real_b = to_rows(q, k, v, key_padding_mask, s)  # blocks [B, H, nb, s, *], real [B, 1, nb, s]
        nb = qb.shape[2]
        neg = torch.finfo(q.dtype).min
        # region summaries (max-pool over real tokens; empty blocks get zeros and are masked out)
        real_e = real_b[..., None]
        k_hat = kb.masked_fill(~real_e, neg).amax(dim=3).masked_fill(~real_e.any(3), 0.0)  # [B, H, nb, D]
        q_hat = qb.masked_fill(~real_e, neg).amax(dim=3).masked_fill(~real_e.any(3), 0.0)
        inner = torch.einsum("bhrd,bhrjd->bhrj", q_hat, kb) * scale
        p_inner = inner.masked_fill(~real_b, float("-inf")).softmax(dim=-1).nan_to_num(0.0)
        v_hat = torch.einsum("bhrj,bhrjd->bhrd", p_inner, vb)  # [B, H, nb, D]
        # direct logits inside the own block, region logits to every block summary
        direct = torch.einsum("bhnid,bhnjd->bhnij", qb, kb) * scale  # [B, H, nb, s, s]
        direct_ok = real_b[:, :, :, None, :].expand(B, 1, nb, s, s)
        if self.causal:
            direct_ok = direct_ok & torch.ones(s, s, dtype=torch.bool, device=q.device).tril()
        region = torch.einsum("bhnid,bhrd->bhnir", qb, k_hat) * scale  # [B, H, nb, s, nb]
        own, other = torch.arange(nb, device=q.device)[:, None], torch.arange(nb, device=q.device)[None, :]
        visible = (other < own) if self.causal else (other != own) | self.own_block_summary
        region_ok = (visible[None, None, :, None, :] & real_b.any(-1)[:, :, None, None, :])
        logits = torch.cat([direct.masked_fill(~direct_ok, float("-inf")),
                            region.masked_fill(~region_ok, float("-inf"))], dim=-1)
        probs = logits.softmax(dim=-1).nan_to_num(0.0)  # rows with nothing visible are padding only
        out = probs[..., :s] @ vb + probs[..., s:] @ v_hat[:, :, None]
        return out.reshape(B, H, nb * s, -1)[:, :, :N]
