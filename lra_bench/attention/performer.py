"""Performer, FAVOR+ (Choromanski et al., ICLR 2021; spec/attention.md "Classic LRA baselines").

Positive orthogonal random features phi(x) = exp(w^T x - |x|^2/2) / sqrt(m), m = 256, on q and k
scaled by d^(-1/4), so phi(q) . phi(k) estimates exp(q . k / sqrt(d)). The features are drawn once at
construction (seeded by the global RNG) as blocks of orthogonal rows with chi(d)-distributed norms.
For stability the query features drop their row max and, non-causal, the key features the max over
real keys (both cancel in the ratio). Causal keys take no shift (one from later keys would leak);
w.x - |x|^2/2 <= |w|^2/2 bounds them. Causal form: the shared chunked core.
"""

import torch

from .linear_core import kernel_prefill, kernel_state, kernel_step, linear_attention
from .registry import Attention, register_attention


def orthogonal_gaussian(m: int, d: int) -> torch.Tensor:
    blocks = []
    for _ in range((m + d - 1) // d):
        q, _ = torch.linalg.qr(torch.randn(d, d))
        blocks.append(q.T)
    w = torch.cat(blocks)[:m]
    return w * torch.randn(m, d).norm(dim=1, keepdim=True)


@register_attention("performer")
class PerformerAttention(Attention):
    bf16_tolerance = 0.08
    supports_step = True
    fla_causal = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, num_features: int = 256,
                 eps: float = 1e-6, chunk_size: int = 64):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.register_buffer("w", orthogonal_gaussian(num_features, dim_head))
        self.eps, self.chunk_size = eps, chunk_size

    def _logits(self, x):
        x = x * x.shape[-1] ** -0.25
        return x @ self.w.to(x.dtype).T - (x * x).sum(-1, keepdim=True) / 2

    def _query_features(self, q):
        """exp of the query logits, shifted per row (the shift cancels in the ratio)."""
        lq = self._logits(q)
        return torch.exp(lq - lq.amax(dim=-1, keepdim=True).detach())

    def forward(self, q, k, v, key_padding_mask=None):
        f, lk = self._query_features(q), self._logits(k)
        if key_padding_mask is not None:
            lk = lk.masked_fill(~key_padding_mask[:, None, :, None], float("-inf"))
        if not self.causal:  # one shift over all real keys cancels in the ratio
            lk = lk - lk.amax(dim=(2, 3), keepdim=True).detach()
        g = torch.exp(lk)
        return linear_attention(f, g, v, key_padding_mask, self.causal, eps=self.eps, chunk_size=self.chunk_size,
                                use_fla=self.use_fla(q))

    def _causal_features(self, q, k):
        return self._query_features(q), torch.exp(self._logits(k))

    def init_state(self, batch, device, dtype, calibration=None):
        return kernel_state(batch, self.num_heads, self.w.shape[0], self.dim_head, device, dtype)

    def prefill(self, q, k, v, calibration=None):
        return kernel_prefill(*self._causal_features(q, k), v)

    def step(self, state, q, k, v):
        return kernel_step(state, *self._causal_features(q, k), v, eps=self.eps)
