"""Linear attention (Katharopoulos et al., ICML 2020, "Transformers are RNNs"), as LRA ran it
(spec/attention.md "Classic LRA baselines").

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/linear_transformer/linear_attention.py`: `elu_feature_map` and
`linear_attention` (phi(x) = elu(x) + 1 on queries and keys, eps = 1e-6 added to the denominator),
called by `LinearAttention.apply` with no mask: LRA's padded keys take part in every sum. So does our
default (`mask_padding: false`); the model is then not padding-invariant, as LRA's was.

Option `mask_padding: true` zeroes padded keys' features (the paper's function on the real tokens
only; what a user who pads batches wants). On a fixed input (B=2, H=2, N=23, d=8, N(0,1) q/k/v, one
sequence 14 real tokens) it differs from the default by max |diff| 0.338 at real positions
(tests/test_oracles_lra_baselines.py, `test_linear_mask_padding_distance`).

Causal form: LRA's `LinearAttention` ignores `causal_mask` (it always computes the non-causal sums);
ours is the paper's prefix-sum form (chunked, linear_core), with the same padding rule.
"""

import torch.nn.functional as F

from .linear_core import kernel_prefill, kernel_state, kernel_step, linear_attention
from .registry import Attention, register_attention


@register_attention("linear")
class LinearAttention(Attention):
    supports_step = True
    fla_causal = True
    padding_invariant = False  # the default, as LRA: padded keys take part (mask_padding: true is invariant)

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, eps: float = 1e-6, chunk_size: int = 64,
                 mask_padding: bool = False):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.eps, self.chunk_size, self.mask_padding = eps, chunk_size, mask_padding

    def forward(self, q, k, v, key_padding_mask=None):
        f, g = F.elu(q) + 1, F.elu(k) + 1
        return linear_attention(f, g, v, key_padding_mask if self.mask_padding else None, self.causal, eps=self.eps,
                                chunk_size=self.chunk_size, use_fla=self.use_fla(q))

    def init_state(self, batch, device, dtype, calibration=None):
        return kernel_state(batch, self.num_heads, self.dim_head, self.dim_head, device, dtype)

    def prefill(self, q, k, v, calibration=None):
        return kernel_prefill(F.elu(q) + 1, F.elu(k) + 1, v)

    def step(self, state, q, k, v):
        return kernel_step(state, F.elu(q) + 1, F.elu(k) + 1, v, eps=self.eps)
