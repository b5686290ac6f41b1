"""Performer (Choromanski et al., ICLR 2021), as LRA ran it (spec/attention.md "Classic LRA baselines").

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/performer/performer.py` (`_DEFAULT_ATTENTION_FN_CLS = 'generalized'`) and
`performer_attention.py` (LRA's fork of google-research `performer/fast_attention/jax/fast_attention.py`):
`make_fast_generalized_attention` with its defaults (`features_type='deterministic'`, so no random
projection at all; `kernel_fn=relu`, `kernel_epsilon=0.001`, `numerical_stabilizer=0.0`, and its
`kernel_feature_creator` leaves `normalize_data=False`, so no d^(-1/4) scaling), then
`FastAttentionviaLowRankDecomposition.dot_product_attention`. LRA's default Performer is therefore

    phi(x) = relu(x) + 0.001 on q and k,   o_i = phi(q_i)^T sum_j phi(k_j) v_j^T / phi(q_i)^T sum_j phi(k_j),

with no padding mask (the attention function ignores flax's `bias`). That is our default
(`attention_fn: generalized`, `mask_padding: false`); `num_features` is unused by it.

`attention_fn: softmax` is FAVOR+, LRA's `make_fast_softmax_attention` with
`nonnegative_softmax_kernel_feature_creator`: m = `num_features` positive orthogonal random features
(blocks of QR-orthogonal rows scaled by the norms of an independent N(0, I) draw, `ortho_scaling=0`),
phi(x) = m^(-1/2) (exp(w.x' - |x'|^2/2 - max) + 1e-6) with x' = x d^(-1/4); the query max is per row over
features, the key max over features and all keys of a head (padding included); the denominator R takes
+2e-6 where |R| <= 1e-6. LRA's ListOps config (`lra_benchmarks/listops/configs/performer_base.py`,
`attention_fn_cls="softmax"`, `nb_features=2`, `ortho_scaling=0.0`) runs it with 2 features redrawn on
every call (`redraw_features=True`, seed ceil(sum(query) * 1e7)); to run that here:
`attention.attention_fn=softmax attention.num_features=2 attention.redraw_features=true`
(`sweep=lra_full` applies it to ListOps through its `pairs`). Its features differ from LRA's (torch's
RNG, not JAX's), its rule for drawing them is LRA's: a fixed draw from the run's seed at construction, or
with `redraw_features` one per call from a seed that is a function of the query (so a call is
deterministic, but outputs depend on the whole batch).

`mask_padding: true` excludes padded keys from every sum and from the key max (padding-invariant), for
padded batches. On a fixed input (B=2, H=2, N=23, d=8, N(0,1) q/k/v, one sequence 14 real tokens), max
|diff| at real positions from the default: 0.629 for `mask_padding: true`, 1.085 for `attention_fn:
softmax` with 256 features (the paper's FAVOR+, our default before this recheck, which also masked
padding; tests/test_oracles_lra_baselines.py, `test_performer_option_distances`).

Causal form (LRA: `unidirectional=causal_mask`, prefix sums): the generalized kernel is exactly LRA's.
FAVOR+ keys take no shift in the causal form (LRA's shift by the max over all keys lets later keys move
earlier outputs through the +1e-6 term); w.x' - |x'|^2/2 <= |w|^2/2 bounds them, and the causal
denominator has no stabiliser (positive features keep it > 0).
FAVOR+'s max shifts are detached (LRA differentiates through them): the same forward values; the
gradients differ only through the +1e-6 stabiliser term. With `redraw_features`, LRA's seed
ceil(sum(q) * 1e7) leaves int32 once |sum(q)| > 214.7, which a ListOps batch (32 x 8 x 2001 x 64 entries)
nearly always does: it is clamped here, so redraws are in effect two fixed draws (LRA's JAX conversion
out of range was not checked).
"""

import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .linear_core import kernel_prefill, kernel_state, kernel_step, linear_attention
from .registry import Attention, register_attention

KERNEL_EPSILON = 0.001  # make_fast_generalized_attention(kernel_epsilon=0.001)
SOFTMAX_STABILIZER = 1e-6  # make_fast_softmax_attention(numerical_stabilizer=0.000001), features and R
ATTENTION_FNS = ("generalized", "softmax")


def orthogonal_gaussian(m: int, d: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """[m, d]: blocks of d orthogonal rows (QR of a Gaussian), row norms from an independent Gaussian."""
    blocks = []
    for _ in range((m + d - 1) // d):
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=generator))
        blocks.append(q.T)
    w = torch.cat(blocks)[:m]
    return w * torch.randn(m, d, generator=generator).norm(dim=1, keepdim=True)


def query_seed(q: torch.Tensor) -> int:
    """LRA's redraw seed, ceil(sum(query) * 1e7) as an int32 (saturated)."""
    return int(max(-2**31, min(2**31 - 1, math.ceil(q.detach().double().sum().item() * 1e7))))


@register_attention("performer")
class PerformerAttention(Attention):
    bf16_tolerance = 0.08
    supports_step = True
    fla_causal = True
    padding_invariant = False  # the default, as LRA: padded keys take part (mask_padding: true is invariant)

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, attention_fn: str = "generalized",
                 num_features: int = 256, redraw_features: bool = False, mask_padding: bool = False,
                 chunk_size: int = 64):
        super().__init__(dim_head, num_heads, causal, max_len)
        if attention_fn not in ATTENTION_FNS:
            raise ConfigError(f"attention.attention_fn: must be 'generalized' (LRA's default, relu features) or "
                              f"'softmax' (FAVOR+), got '{attention_fn}'")
        self.attention_fn, self.redraw_features, self.mask_padding = attention_fn, redraw_features, mask_padding
        self.num_features, self.chunk_size = num_features, chunk_size
        if attention_fn == "softmax":
            self.register_buffer("w", orthogonal_gaussian(num_features, dim_head))

    def _projection(self, q):
        if not self.redraw_features:
            return self.w.to(q.dtype)
        g = torch.Generator().manual_seed(query_seed(q))
        return orthogonal_gaussian(self.num_features, self.dim_head, g).to(device=q.device, dtype=q.dtype)

    def _softmax_logits(self, x, w):
        """w.x' and |x'|^2 / 2 with x' = x d^(-1/4)."""
        x = x * x.shape[-1] ** -0.25
        return x @ w.T, (x * x).sum(-1, keepdim=True) / 2

    def _features(self, q, k, key_padding_mask, shift_keys):
        """phi(q), phi(k) [B, H, N, F] (or one token's [B, H, F]); FAVOR+ keys shifted by their max when
        `shift_keys` (the non-causal form), else unshifted."""
        if self.attention_fn == "generalized":
            return F.relu(q) + KERNEL_EPSILON, F.relu(k) + KERNEL_EPSILON
        w = self._projection(q)
        ratio = w.shape[0] ** -0.5
        dq, diag_q = self._softmax_logits(q, w)
        f = ratio * (torch.exp(dq - diag_q - dq.amax(dim=-1, keepdim=True).detach()) + SOFTMAX_STABILIZER)
        dk, diag_k = self._softmax_logits(k, w)
        if not shift_keys:
            return f, ratio * (torch.exp(dk - diag_k) + SOFTMAX_STABILIZER)
        if self.mask_padding and key_padding_mask is not None:
            top = dk.masked_fill(~key_padding_mask[:, None, :, None], float("-inf")).amax(dim=(2, 3), keepdim=True)
        else:
            top = dk.amax(dim=(2, 3), keepdim=True)
        return f, ratio * (torch.exp(dk - diag_k - top.detach()) + SOFTMAX_STABILIZER)

    def forward(self, q, k, v, key_padding_mask=None):
        f, g = self._features(q, k, key_padding_mask, shift_keys=not self.causal)
        mask = key_padding_mask if self.mask_padding else None
        if self.causal:
            return linear_attention(f, g, v, mask, True, eps=0.0, chunk_size=self.chunk_size, use_fla=self.use_fla(q))
        if mask is not None:
            g = g * mask[:, None, :, None].to(g.dtype)
        num = torch.einsum("bhnf,bhfd->bhnd", f, torch.einsum("bhnf,bhnd->bhfd", g, v))
        den = torch.einsum("bhnf,bhf->bhn", f, g.sum(dim=2))
        if self.attention_fn == "softmax":  # R + 2 s [|R| <= s]; the generalized kernel's s is 0
            den = den + 2 * SOFTMAX_STABILIZER * (den.abs() <= SOFTMAX_STABILIZER).to(den.dtype)
        return num / den.unsqueeze(-1)

    def init_state(self, batch, device, dtype, calibration=None):
        if self.redraw_features:
            raise ConfigError("attention.redraw_features: features redrawn per call have no recurrent form; "
                              "set attention.redraw_features=false")
        features = self.dim_head if self.attention_fn == "generalized" else self.num_features
        return kernel_state(batch, self.num_heads, features, self.dim_head, device, dtype)

    def prefill(self, q, k, v, calibration=None):
        return kernel_prefill(*self._features(q, k, None, shift_keys=False), v)

    def step(self, state, q, k, v):
        return kernel_step(state, *self._features(q, k, None, shift_keys=False), v, eps=0.0)
