"""Softmax inside non-overlapping blocks of consecutive tokens: LRA's Local Attention (`local`) and
the diagonal branch of LLN + Diag (`lln_diag`) (spec/attention.md "Classic LRA baselines", "LLN + Diag")."""

import torch
import torch.nn.functional as F

from .masking import to_rows


def block_diagonal_softmax(q, k, v, key_padding_mask, block: int, causal: bool):
    """Softmax with 1/sqrt(d) inside blocks of `block` consecutive tokens (causal: j <= i in a block);
    the last N mod block tokens form one smaller block."""
    B, H, N, _ = q.shape
    qb, kb, vb, real = to_rows(q, k, v, key_padding_mask, block)
    allowed = real[:, :, :, None, :].expand(B, 1, qb.shape[2], block, block)  # real keys
    if causal:
        allowed = allowed & torch.ones(block, block, dtype=torch.bool, device=q.device).tril()
    # a query whose block has no real key (padding only) attends to itself, to stay finite
    allowed = allowed | (~allowed.any(-1, keepdim=True) & torch.eye(block, dtype=torch.bool, device=q.device))
    out = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=allowed)
    return out.reshape(B, H, -1, v.shape[-1])[:, :, :N]
