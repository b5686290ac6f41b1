"""Local attention, as LRA ran it (spec/attention.md "Classic LRA baselines").

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/local/local_attention.py`, `LocalAttention.apply` (with
`local_dot_product_attention`); block length `block_size=50` from `local.py`
(`LocalTransformerEncoder.apply`), which the ListOps, Text and Retrieval configs leave as it is, while
`image/configs/cifar10/local_base.py` and `image/configs/pathfinder32/local_base.py` set
`config.model.block_size = 64` (with their other per-model settings, `sweep=lra_full`'s `pairs`
apply them; by hand: `attention.block_size=64`). LRA's function, per sequence and head, with b = block_size:
- the sequence is padded with b - (N mod b) zero tokens (a whole block when b divides N; LRA pads the
  layer input and its q/k/v projections have no bias, so the fill tokens have q = k = v = 0);
- `reshape(query, (bs, block_size, num_blocks, ...))` and attention over the block_size axis: the G =
  (N + fill) / b groups are STRIDED, group g = positions {g, g + G, g + 2G, ...}, not consecutive
  blocks; softmax(q k^T / sqrt(d)) inside a group;
- the padding mask (padded with True for the fill tokens: `jnp.pad(..., constant_values=-1e9)` on a
  boolean) is cut into CONSECUTIVE blocks, `reshape(padding_mask, (bs * num_query_blocks, block_size,
  1))`, and group g takes block g's mask: slot a may attend slot c iff positions g*b + a and g*b + c are
  real (an additive -1e10 otherwise). So the mask is not aligned with the tokens it masks; we keep it.
That is our default (`pattern: strided`). It is not padding-invariant (the grouping depends on N).

`pattern: consecutive` is softmax inside non-overlapping blocks of b consecutive tokens, padded keys
excluded (what the LRA paper's text describes, and our default before this recheck); on a fixed input
(B=2, H=2, N=23, d=8, N(0,1) q/k/v, one sequence 14 real tokens, b=6) max |diff| from the default at
real positions 2.377 (tests/test_oracles_lra_baselines.py, `test_local_option_distances`).

Causal form: LRA has none that runs (`_make_causal_mask` is built for the unblocked [N, N] shape and
cannot broadcast to the blocked logits; "TODO(yitay): Test this causal masking"), and a strided
grouping depends on the whole length. Ours is the consecutive one, causal inside a block (j <= i),
whatever `pattern` says.
"""

import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .block_softmax import block_diagonal_softmax
from .registry import Attention, register_attention

MASKED_LOGIT = -1e10  # local_attention.py: lax.select(attention_mask > 0, 0., -1e10)


def lra_strided_local(q, k, v, key_padding_mask, block: int):
    """LRA's LocalAttention.apply on q, k, v [B, H, N, d] (see the module docstring)."""
    B, H, N, d = q.shape
    fill = block - N % block
    n = N + fill
    groups = n // block
    q, k, v = (F.pad(t, (0, 0, 0, fill)) for t in (q, k, v))
    real = torch.ones(B, N, dtype=torch.bool, device=q.device) if key_padding_mask is None else key_padding_mask
    real = F.pad(real, (0, fill), value=True).reshape(B, groups, block)  # consecutive blocks, as LRA's mask
    allowed = real[:, :, :, None] & real[:, :, None, :]  # [B, G, b, b]
    masked = max(MASKED_LOGIT, torch.finfo(q.dtype).min)
    bias = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill(~allowed, masked)
    qs, ks, vs = (t.reshape(B, H, block, groups, -1).transpose(2, 3) for t in (q, k, v))  # [B, H, G, b, d]
    logits = qs @ ks.transpose(-1, -2) / math.sqrt(d) + bias[:, None]
    out = logits.softmax(dim=-1) @ vs
    return out.transpose(2, 3).reshape(B, H, n, -1)[:, :, :N]


@register_attention("local")
class LocalAttention(Attention):
    padding_invariant = False  # the default, as LRA: strided groups depend on the padded length

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, block_size: int = 50,
                 pattern: str = "strided"):
        super().__init__(dim_head, num_heads, causal, max_len)
        if pattern not in ("strided", "consecutive"):
            raise ConfigError(f"attention.pattern: must be 'strided' (LRA's code) or 'consecutive', got '{pattern}'")
        self.block_size, self.pattern = block_size, pattern

    def forward(self, q, k, v, key_padding_mask=None):
        if self.causal or self.pattern == "consecutive":
            return block_diagonal_softmax(q, k, v, key_padding_mask, self.block_size, self.causal)
        return lra_strided_local(q, k, v, key_padding_mask, self.block_size)
