"""Linformer (Wang et al. 2020, arXiv 2006.04768), as LRA ran it (spec/attention.md "Classic LRA baselines").

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/linformer/linformer_attention.py`, `LinformerAttention.apply`: one learned
kernel `lr_kernel` [max_len, low_rank_features] (default `low_rank_features=16`; no LRA config changes
it: text's `config.low_rank_features = 32` is read by nothing), initialised by the block's
`kernel_init=xavier_uniform()` (`linformer.py`, `LinformerBlock`), projects keys AND values along the
length axis (E = F, shared across heads), then plain softmax attention over the k projected keys with
scale 1/sqrt(d) and `bias=None`: no padding mask ("TODO(yitay) Does Linformer care about masks?").
Our default is that function: `proj_len: 16`, `share_kv: true`, `mask_padding: false`; E is
[k, max_len] (LRA's kernel transposed), xavier-uniform from torch's global RNG (the run's seed).

Options, kept for what the paper describes and for padded batches:
- `share_kv: false`: separate E and F (the paper's general form, and our default before this recheck);
- `mask_padding: true`: padded keys and values are zeroed before the projection, so padding adds
  nothing (the model is then padding-invariant);
- `proj_len`: the paper's k (256 was our earlier default).
Max |diff| at real positions from the default on a fixed input (B=2, H=2, N=23, d=8, max_len=64, N(0,1)
q/k/v, one sequence 14 real tokens, the same seed for E): `mask_padding: true` 0.681, `share_kv: false`
1.160, our earlier default (k=256, separate E and F, masked) 1.090 (tests/test_oracles_lra_baselines.py,
`test_linformer_option_distances`).
Needs `max_len`; non-causal only (LRA's module ignores `causal_mask`; the paper defines no causal form).
"""

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Attention, register_attention


@register_attention("linformer")
class LinformerAttention(Attention):
    supports_causal = False
    needs_max_len = True
    padding_invariant = False  # the default, as LRA: padded keys are projected with the rest

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, proj_len: int = 16, share_kv: bool = True,
                 mask_padding: bool = False):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.mask_padding = mask_padding
        self.E = nn.Parameter(nn.init.xavier_uniform_(torch.empty(proj_len, max_len)))
        if share_kv:
            self.register_parameter("F", None)
        else:
            self.F = nn.Parameter(nn.init.xavier_uniform_(torch.empty(proj_len, max_len)))

    def forward(self, q, k, v, key_padding_mask=None):
        N = q.shape[2]
        if self.mask_padding and key_padding_mask is not None:
            keep = key_padding_mask[:, None, :, None].to(k.dtype)
            k, v = k * keep, v * keep
        E = self.E[:, :N].to(k.dtype)
        Fv = E if self.F is None else self.F[:, :N].to(v.dtype)
        k = torch.einsum("pn,bhnd->bhpd", E, k)
        v = torch.einsum("pn,bhnd->bhpd", Fv, v)
        return F.scaled_dot_product_attention(q, k, v)
