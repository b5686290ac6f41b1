"""Synthesizer, "random" mode (Tay et al., ICML 2021, arXiv 2005.00743), as LRA ran it.

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/synthesizer/synthesizer_attention.py`, `SynthesizerAttention.apply` and
`synthetic_attention`. Defaults: `lra_benchmarks/models/synthesizer/synthesizer.py`
(`SynthesizerEncoder.apply`: `synthesizer_mode='random'`, `ignore_dot_product=False`). The ListOps
config (`listops/configs/synthesizer_base.py`) sets only the model type; the Image and Pathfinder
configs set `config.model.synthesizer_mode = "random"`. The Text config's top-level
`ignore_dot_product = True`, `synthesizer_mode = "factorized_random"` are not in `config.model`, and
`text_classification/train.py` passes only `config.model` on: LRA's Text run used the same defaults.

So LRA's "Synthesizer" row is the dot product PLUS a learned per-head random matrix R_h [max_len,
max_len], sliced to the sequence: A = softmax(q k^T / sqrt(d) + R_h[:N, :N]) (masked), output A v.
R is initialised as flax's `default_kernel_init` (lecun_normal: truncated normal, variance
1 / fan_in with fan_in = heads * max_len for a [H, L, L] kernel). Causal: LRA's `causal_mask` path
masks j > i. Padded keys are masked (LRA masks them whenever the dot product is on).
`dot_product: false` is the paper's pure Random Synthesizer (LRA's `ignore_dot_product=True`).
"""

import math

import torch
from torch import nn

from .pattern_softmax import masked_logits_softmax
from .registry import Attention, register_attention

TRUNC_NORMAL_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2] (jax.nn.initializers)


def lecun_normal_(weight: torch.Tensor, fan_in: int) -> torch.Tensor:
    std = math.sqrt(1.0 / fan_in) / TRUNC_NORMAL_STD
    return nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def synthetic_softmax(q, k, v, synthetic, key_padding_mask, causal, dot_product):
    """softmax(q k^T / sqrt(d) [if dot_product] + synthetic) v over real (and causal) keys."""
    N = q.shape[2]
    logits = synthetic
    if dot_product:
        logits = logits + (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    allowed = torch.ones(N, N, dtype=torch.bool, device=q.device)
    if causal:
        allowed = allowed.tril()
    return masked_logits_softmax(logits, v, allowed, key_padding_mask)


@register_attention("synthesizer_random")
class RandomSynthesizerAttention(Attention):
    needs_max_len = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, dot_product: bool = True):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.dot_product = dot_product
        self.random = nn.Parameter(lecun_normal_(torch.empty(num_heads, max_len, max_len), num_heads * max_len))

    def forward(self, q, k, v, key_padding_mask=None):
        N = q.shape[2]
        synthetic = self.random[:, :N, :N].to(q.dtype).expand(q.shape[0], -1, -1, -1)
        return synthetic_softmax(q, k, v, synthetic, key_padding_mask, self.causal, self.dot_product)
