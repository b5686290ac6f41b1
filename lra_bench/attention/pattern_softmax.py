"""Softmax attention restricted by a boolean pattern: the shared form of the LRA baselines that the
official code computes as dense attention with a mask bias (Sparse Transformer, Longformer, BigBird).

LRA adds a -1e10 bias at masked entries before one dense softmax (e.g. `sparse_attention.py`
`SparseAttention.apply`); a boolean mask in `F.scaled_dot_product_attention` gives the same weights
(exp(-1e10) is 0 in float32). A query with no allowed real key (padding-only rows) attends to itself,
so every output stays finite; such rows are padding, never read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def full_mask(allowed: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
    """`allowed` and the real keys; a row with nothing left keeps its diagonal."""
    mask = allowed
    if key_padding_mask is not None:
        mask = mask & key_padding_mask[:, None, None, :]
    eye = torch.eye(mask.shape[-1], dtype=torch.bool, device=mask.device)
    return mask | (~mask.any(-1, keepdim=True) & eye)


def pattern_softmax(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor,
                    key_padding_mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) on `allowed` and real keys) v; `allowed` broadcasts to [B, H, N, N]."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=full_mask(allowed, key_padding_mask))


def masked_logits_softmax(logits: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor,
                          key_padding_mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(logits on `allowed` and real keys) v, for variants whose logits are not q k^T alone."""
    mask = full_mask(allowed, key_padding_mask)
    return logits.masked_fill(~mask, float("-inf")).softmax(-1) @ v
