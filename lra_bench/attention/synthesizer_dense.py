"""Synthesizer, "dense" mode (Tay et al., ICML 2021, arXiv 2005.00743, Sec. 3.1), as LRA's code defines it.

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/synthesizer/synthesizer_attention.py`, `SynthesizerAttention.apply`
(`'dense' in synthesizer_mode`) and `synthetic_attention`; `ignore_dot_product=False` is the default of
`lra_benchmarks/models/synthesizer/synthesizer.py` `SynthesizerEncoder.apply`, as for LRA's runs
(see `synthesizer_random.py`: LRA's Table 1 row ran the "random" mode; the dense mode is in the code
but no LRA config selects it).

Each query predicts its own row of logits, B[i, :] = W2 relu(W1_h x_i + b1_h) + b2 (W1: per head,
model width -> dim_head; W2: dim_head -> max_len shared by the heads), sliced to the sequence, added
to q k^T / sqrt(d): A = softmax(q k^T / sqrt(d) + B) (masked), output A v. Causal: j > i masked, as
LRA's `causal_mask` path; a row depends only on its own query, so nothing leaks.

Departures: (1) the attention contract gives the head's q, not the layer input x, so the first layer
reads q (W1_h: dim_head -> dim_head with bias) instead of x (model width -> dim_head). (2) LRA reshapes
the [B, N, H, max_len] prediction to [B, H, N, max_len] without a transpose, which mixes positions
and heads (row i of head h comes from token (h N + i) // H); we take each head's own row (the paper's
function). Initialisation as flax's lecun_normal kernels and zero biases (LRA's `kernel_init`,
`bias_init`). `dot_product: false` is the paper's pure Dense Synthesizer.
"""

import torch
from torch import nn

from .registry import Attention, register_attention
from .synthesizer_random import lecun_normal_, synthetic_softmax


@register_attention("synthesizer_dense")
class DenseSynthesizerAttention(Attention):
    needs_max_len = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, dot_product: bool = True):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.dot_product = dot_product
        self.w1 = nn.Parameter(lecun_normal_(torch.empty(num_heads, dim_head, dim_head), dim_head))
        self.b1 = nn.Parameter(torch.zeros(num_heads, 1, dim_head))
        self.w2 = nn.Parameter(lecun_normal_(torch.empty(dim_head, max_len), dim_head))
        self.b2 = nn.Parameter(torch.zeros(max_len))

    def forward(self, q, k, v, key_padding_mask=None):
        N = q.shape[2]
        hidden = torch.relu(q @ self.w1.to(q.dtype) + self.b1.to(q.dtype))  # [B, H, N, d]
        synthetic = hidden @ self.w2[:, :N].to(q.dtype) + self.b2[:N].to(q.dtype)  # [B, H, N, N]
        return synthetic_softmax(q, k, v, synthetic, key_padding_mask, self.causal, self.dot_product)
