"""Element-wise Attention, EA (Feng 2025, arXiv 2501.05730; spec/attention.md "Element-wise Attention").

Per channel c: o_ic = sum_j w_c(i,j) v_jc / sum_j w_c(i,j) with w_c(i,j) = exp(-(q_ic - k_jc)^2 / tau).
The exp(-q^2/tau) factor cancels; exp(kappa q k), kappa = 2/tau, becomes its Taylor polynomial of
order t, giving o_ic = [sum_n kappa^n/n! q^n A_nc] / [sum_n kappa^n/n! q^n B_nc] with
A_nc = sum_j k^n exp(-k^2/tau) v and B_nc = sum_j k^n exp(-k^2/tau): O(t N d), and for the causal
form prefix sums over positions (a state of 2(t+1)d numbers per step).

Defaults: tau = 2 (the abstract's exp(q k) term, kappa = 1) and t = 6, as the spec gives; the paper's
method section could not be read in this environment to confirm its own default t or any bounding
of q and k. t must be even: the Taylor polynomial of exp is positive on all reals only for even t.
Non-causal sums use a per-channel shift max_j(-k_j^2/tau) over real keys (cancels in the ratio);
the causal form has none (a shift from later keys would leak), so its denominator is clamped.
"""

import math

import torch

from ..errors import ConfigError
from .registry import Attention, register_attention


@register_attention("elementwise")
class ElementwiseAttention(Attention):
    bf16_tolerance = 0.08
    supports_step = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, order: int = 6, tau: float = 2.0,
                 eps: float = 1e-12):
        super().__init__(dim_head, num_heads, causal, max_len)
        if order < 0 or order % 2:
            raise ConfigError(f"attention.order: must be an even, non-negative integer (the Taylor polynomial of "
                              f"exp is positive only for even order), got {order}")
        if tau <= 0:
            raise ConfigError(f"attention.tau: must be positive, got {tau}")
        self.order, self.tau, self.eps = order, tau, eps

    def forward(self, q, k, v, key_padding_mask=None):
        dtype = q.dtype
        q, k, v = (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t for t in (q, k, v))
        log_w = -k * k / self.tau  # [B, H, N, d]
        if key_padding_mask is not None:
            log_w = log_w.masked_fill(~key_padding_mask[:, None, :, None], float("-inf"))
        if not self.causal:
            log_w = log_w - log_w.amax(dim=2, keepdim=True).detach()
        w = torch.exp(log_w)
        kappa = 2.0 / self.tau
        num = torch.zeros_like(q)
        den = torch.zeros_like(q)
        k_power = torch.ones_like(k)
        q_power = torch.ones_like(q)
        for n in range(self.order + 1):
            coeff = kappa**n / math.factorial(n)
            b = w * k_power
            a = b * v
            if self.causal:
                a, b = a.cumsum(dim=2), b.cumsum(dim=2)
            else:
                a, b = a.sum(dim=2, keepdim=True), b.sum(dim=2, keepdim=True)
            num = num + coeff * q_power * a
            den = den + coeff * q_power * b
            k_power, q_power = k_power * k, q_power * q
        return (num / den.clamp_min(self.eps)).to(dtype)

    def attention_matrix(self, q, k, key_padding_mask=None, v=None):
        """Per channel c the weights are P_t(kappa q_ic k_jc) exp(-k_jc^2/tau), row-normalised; value
        dim = key dim, so V = identity does not apply: the explicit form, averaged over channels."""
        x = (2.0 / self.tau) * q[..., :, None, :] * k[..., None, :, :]  # [B, H, i, j, c]
        weights = sum(x**n / math.factorial(n) for n in range(self.order + 1)) * torch.exp(-k * k / self.tau)[
            ..., None, :, :]
        if key_padding_mask is not None:
            weights = weights * key_padding_mask[:, None, None, :, None]
        if self.causal:
            weights = weights * torch.ones(q.shape[2], q.shape[2], device=q.device).tril()[..., None]
        return (weights / weights.sum(dim=-2, keepdim=True).clamp_min(self.eps)).mean(dim=-1)

    def _terms(self, k, v):
        """Per-token k^n exp(-k^2/tau) v and k^n exp(-k^2/tau), n = 0..t, stacked on dim -2."""
        w = torch.exp(-k * k / self.tau)
        powers = torch.stack([k**n for n in range(self.order + 1)], dim=-2) * w[..., None, :]
        return powers * v[..., None, :], powers

    def _read(self, q, A, B):
        coeff = torch.tensor([(2.0 / self.tau) ** n / math.factorial(n) for n in range(self.order + 1)],
                             dtype=q.dtype, device=q.device)[:, None]
        q_powers = torch.stack([q**n for n in range(self.order + 1)], dim=-2) * coeff
        return (q_powers * A).sum(-2) / (q_powers * B).sum(-2).clamp_min(self.eps)

    def init_state(self, batch, device, dtype, calibration=None):
        zeros = torch.zeros(batch, self.num_heads, self.order + 1, self.dim_head, device=device, dtype=dtype)
        return {"A": zeros, "B": zeros.clone()}

    def prefill(self, q, k, v, calibration=None):
        a, b = self._terms(k, v)
        return {"A": a.sum(dim=2), "B": b.sum(dim=2)}

    def step(self, state, q, k, v):
        a, b = self._terms(k, v)
        A, B = state["A"] + a, state["B"] + b
        return self._read(q, A, B), {"A": A, "B": B}
