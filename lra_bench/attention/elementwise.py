"""Element-wise Attention, EA (Feng 2025, arXiv 2501.05730; spec/attention.md "Element-wise Attention").

Per channel c: o_ic = sum_j w_c(i,j) v_jc / sum_j w_c(i,j) with w_c(i,j) = exp(-(q_ic - k_jc)^2 / tau).
The exp(-q^2/tau) factor cancels; exp(kappa q k), kappa = 2/tau, becomes its Taylor polynomial of
order t, giving o_ic = [sum_n kappa^n/n! q^n A_nc] / [sum_n kappa^n/n! q^n B_nc] with
A_nc = sum_j k^n exp(-k^2/tau) v and B_nc = sum_j k^n exp(-k^2/tau): O(t N d), and for the causal
form prefix sums over positions (a state of 2(t+1)d numbers per step).

Defaults: tau = 2 (the abstract's exp(q k) term, kappa = 1) and t = 6, as the spec gives; the paper's
method section could not be read in this environment to confirm its own default t or any bounding
of q and k. t must be even: the Taylor polynomial of exp is positive on all reals only for even t.
Stability: the weights exp(-k^2/tau) underflow for |k| >= ~9 (float32) / ~27 (float64), so every sum
is taken relative to a per-channel shift that cancels in the ratio: non-causal, the max of -k^2/tau
over real keys; causal, its running max m_t over the keys seen so far (never a later key, so no
leak), as Latte's stable scan: prefix sums of signed terms are carried in the log domain
(logcumsumexp of the positive and of the negative parts), so sum_{s<=t} exp(-k_s^2/tau - m_t) x_s is
exact for any |k| (float32: within 2e-4 of max |out| of the float64 explicit form for |k| up to 30,
against 6e-6 non-causal: the log-domain sums carry the ulp of k^2/tau); the recurrent state rescales
by exp(m_old - m_new). Without the shift the causal
output collapsed toward 0 once every earlier key in a channel had |k| >= 8 (0.23 off the non-causal
form's last row; exactly 0 in float32 at |k| >= 16).
"""

import math

import torch

from ..errors import ConfigError
from .registry import Attention, register_attention


@register_attention("elementwise")
class ElementwiseAttention(Attention):
    bf16_tolerance = 0.08
    supports_step = True
    compute_in_float32 = True

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
        log_w = -k * k / self.tau  # [B, H, N, d]
        if key_padding_mask is not None:
            log_w = log_w.masked_fill(~key_padding_mask[:, None, :, None], float("-inf"))
        if self.causal:
            shift = log_w.cummax(dim=2).values.clamp_min(torch.finfo(log_w.dtype).min).detach()
        else:
            shift = log_w.amax(dim=2, keepdim=True).detach()
            w = torch.exp(log_w - shift)
        kappa = 2.0 / self.tau
        num = torch.zeros_like(q)
        den = torch.zeros_like(q)
        k_power = torch.ones_like(k)
        q_power = torch.ones_like(q)
        for n in range(self.order + 1):
            coeff = kappa**n / math.factorial(n)
            if self.causal:
                a, b = shifted_prefix_sum(log_w, k_power * v, shift), shifted_prefix_sum(log_w, k_power, shift)
            else:
                b = w * k_power
                a, b = (b * v).sum(dim=2, keepdim=True), b.sum(dim=2, keepdim=True)
            num = num + coeff * q_power * a
            den = den + coeff * q_power * b
            k_power, q_power = k_power * k, q_power * q
        return num / den.clamp_min(self.eps)

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

    def _terms(self, k, v, shift):
        """Per-token k^n exp(-k^2/tau - shift) v and k^n exp(-k^2/tau - shift), n = 0..t, stacked on dim -2."""
        w = torch.exp(-k * k / self.tau - shift)
        powers = torch.stack([k**n for n in range(self.order + 1)], dim=-2) * w[..., None, :]
        return powers * v[..., None, :], powers

    def _read(self, q, A, B):
        coeff = torch.tensor([(2.0 / self.tau) ** n / math.factorial(n) for n in range(self.order + 1)],
                             dtype=q.dtype, device=q.device)[:, None]
        q_powers = torch.stack([q**n for n in range(self.order + 1)], dim=-2) * coeff
        return (q_powers * A).sum(-2) / (q_powers * B).sum(-2).clamp_min(self.eps)

    # Recurrent form: A, B relative to the running max m of -k^2/tau per channel, rescaled as m grows.
    def init_state(self, batch, device, dtype, calibration=None):
        zeros = torch.zeros(batch, self.num_heads, self.order + 1, self.dim_head, device=device, dtype=dtype)
        return {"A": zeros, "B": zeros.clone(),
                "m": torch.full((batch, self.num_heads, self.dim_head), float("-inf"), device=device, dtype=dtype)}

    def prefill(self, q, k, v, calibration=None):
        m = (-k * k / self.tau).amax(dim=2)
        a, b = self._terms(k, v, m[:, :, None])
        return {"A": a.sum(dim=2), "B": b.sum(dim=2), "m": m}

    def step(self, state, q, k, v):
        m = torch.maximum(state["m"], -k * k / self.tau)
        rescale = torch.exp(state["m"] - m)[:, :, None]  # 0 before the first token
        a, b = self._terms(k, v, m)
        A, B = state["A"] * rescale + a, state["B"] * rescale + b
        return self._read(q, A, B), {"A": A, "B": B, "m": m}


def shifted_prefix_sum(log_w: torch.Tensor, x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """sum_{s<=t} exp(log_w_s - shift_t) x_s along dim 2, exact for any range of log_w: the positive and
    negative parts of x are summed in the log domain (logcumsumexp), then shifted and subtracted."""
    log_x = log_w + torch.log(torch.where(x == 0, torch.ones_like(x), x.abs()))  # x = 0: masked below, finite grads
    positive = torch.logcumsumexp(log_x.masked_fill(x <= 0, float("-inf")), dim=2)
    negative = torch.logcumsumexp(log_x.masked_fill(x >= 0, float("-inf")), dim=2)
    return torch.exp(positive - shift) - torch.exp(negative - shift)
