"""Linear attention (Katharopoulos et al., ICML 2020, "Transformers are RNNs"; spec/attention.md, "linear").

phi(x) = elu(x) + 1 on queries and keys, the shared kernelised core, eps = 1e-6 added to the
denominator. Causal form: chunked prefix sums (linear_core).
"""

import torch.nn.functional as F

from .linear_core import kernel_prefill, kernel_state, kernel_step, linear_attention
from .registry import Attention, register_attention


@register_attention("linear")
class LinearAttention(Attention):
    supports_step = True
    fla_causal = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, eps: float = 1e-6, chunk_size: int = 64):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.eps, self.chunk_size = eps, chunk_size

    def forward(self, q, k, v, key_padding_mask=None):
        f, g = F.elu(q) + 1, F.elu(k) + 1
        return linear_attention(f, g, v, key_padding_mask, self.causal, eps=self.eps, chunk_size=self.chunk_size,
                                use_fla=self.use_fla(q))

    def init_state(self, batch, device, dtype, calibration=None):
        return kernel_state(batch, self.num_heads, self.dim_head, self.dim_head, device, dtype)

    def prefill(self, q, k, v, calibration=None):
        return kernel_prefill(F.elu(q) + 1, F.elu(k) + 1, v)

    def step(self, state, q, k, v):
        return kernel_step(state, F.elu(q) + 1, F.elu(k) + 1, v, eps=self.eps)
