"""Linear Log-Normal attention (Nahshan, Kampeas, Haleva, ICLR 2024; authors' code
ynahshan/linear-lognormal-attention `lln/lln_attention.py`; spec/attention.md "LLN").

Moment matching, recomputed at every call without gradient: with the authors' fitted a, b,
sigma~^2 = (sigma_q^2 sigma_k^2 - b) / (2a), alpha = sigma~ / sigma_q, beta = sigma~ / sigma_k.
Features f = exp(alpha q - max_c alpha q), g = exp(beta k - max_{j,c} beta k) (shifts cancel), no
1/sqrt(d), eps added to the denominator; computed in float32 under autocast.

Statistics (a choice the spec leaves to us, recorded here): `lln_stats: masked` (default) takes the
std of each sequence's and head's real tokens, so a sample's output depends neither on padding nor on
the other samples of its batch; `lln_stats: tensor` takes one std over the whole tensor, padding
included, as the authors' code does.

`lln_diag` adds the authors' block-diagonal softmax branch (`LLNPlusDiagAttention`): softmax on the
raw q, k with 1/sqrt(d) inside blocks of d consecutive tokens (the last N mod d tokens form a smaller
block), combined as (o_LLN + o_diag) / 2, or with learnable per-head-channel weights.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .linear_core import kernel_prefill, kernel_state, kernel_step, linear_attention
from .masking import expand_mask, to_rows
from .registry import Attention, register_attention

FIT_A = 0.14855178144710912
FIT_B = -0.35487039130661086

def moment_matched_scales(sigma_q: torch.Tensor, sigma_k: torch.Tensor):
    """alpha, beta of the LLN paper from the standard deviations of q and k (spec formula)."""
    sigma_tilde = torch.sqrt((sigma_q**2 * sigma_k**2 - FIT_B) / (2 * FIT_A))
    return sigma_tilde / sigma_q, sigma_tilde / sigma_k

def _std(x: torch.Tensor, mask: torch.Tensor | None, per_sequence: bool) -> torch.Tensor:
    """Std over tokens and channels: per (batch, head) over real tokens, or over the whole tensor."""
    if not per_sequence:
        return x.std().expand(x.shape[0], x.shape[1])
    weights = expand_mask(mask, x)  # [B, 1, N, 1]
    count = weights.sum(dim=(2, 3)) * x.shape[-1]
    mean = (x * weights).sum(dim=(2, 3)) / count
    var = (((x - mean[..., None, None]) ** 2) * weights).sum(dim=(2, 3)) / (count - 1).clamp_min(1)
    return var.sqrt()

@register_attention("lln")
class LLNAttention(Attention):
    """Recurrent form: alpha, beta are decode-time constants (from `calibration`, else the prompt, else
    unit-variance inputs); the key shift becomes a running max that rescales the state exactly (the
    outputs equal the parallel form's at eps = 0; eps acts on the shifted denominator)."""

    bf16_tolerance = 0.05
    statistics_see_future = True  # sigma_q, sigma_k and the key shift span the whole sequence, as in the paper
    supports_step = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, eps: float = 1e-8,
                 lln_stats: str = "masked", chunk_size: int = 64):
        super().__init__(dim_head, num_heads, causal, max_len)
        if lln_stats not in ("masked", "tensor"):
            raise ConfigError(f"attention.lln_stats: expected 'masked' or 'tensor', got '{lln_stats}'")
        self.eps, self.lln_stats, self.chunk_size = eps, lln_stats, chunk_size

    def lln(self, q, k, v, key_padding_mask):
        dtype = q.dtype
        q, k, v = (t.float() if t.dtype in (torch.float16, torch.bfloat16) else t for t in (q, k, v))
        with torch.autocast(q.device.type, enabled=False), torch.no_grad():
            per_sequence = self.lln_stats == "masked"
            alpha, beta = moment_matched_scales(_std(q, key_padding_mask, per_sequence),
                                                _std(k, key_padding_mask, per_sequence))
        with torch.autocast(q.device.type, enabled=False):
            aq = q * alpha[..., None, None]
            bk = k * beta[..., None, None]
            f = torch.exp(aq - aq.amax(dim=-1, keepdim=True).detach())
            real = expand_mask(key_padding_mask, bk) > 0
            k_max = bk.masked_fill(~real, float("-inf")).amax(dim=(2, 3), keepdim=True).detach()
            g = torch.exp((bk - k_max).masked_fill(~real, float("-inf")))
            out = linear_attention(f, g, v, key_padding_mask, self.causal, eps=self.eps, chunk_size=self.chunk_size)
        return out.to(dtype)

    def forward(self, q, k, v, key_padding_mask=None):
        return self.lln(q, k, v, key_padding_mask)

    def scales(self, calibration, batch, device, dtype):
        """alpha, beta [B, H] from a (q, k, v) sequence, or for unit-variance q and k without one."""
        if calibration is None:
            one = torch.ones(batch, self.num_heads, device=device, dtype=dtype)
            return moment_matched_scales(one, one)
        q, k, _ = calibration
        per_sequence = self.lln_stats == "masked"
        with torch.no_grad():
            return moment_matched_scales(_std(q, None, per_sequence), _std(k, None, per_sequence))

    def init_state(self, batch, device, dtype, calibration=None):
        alpha, beta = self.scales(calibration, batch, device, dtype)
        return {**kernel_state(batch, self.num_heads, self.dim_head, self.dim_head, device, dtype),
                "alpha": alpha, "beta": beta, "m": torch.full_like(alpha, float("-inf"))}

    def prefill(self, q, k, v, calibration=None):
        alpha, beta = self.scales(calibration or (q, k, v), q.shape[0], q.device, q.dtype)
        aq, bk = q * alpha[..., None, None], k * beta[..., None, None]
        m = bk.amax(dim=(2, 3))
        state = kernel_prefill(torch.exp(aq - aq.amax(-1, keepdim=True)), torch.exp(bk - m[..., None, None]), v)
        return {**state, "alpha": alpha, "beta": beta, "m": m}

    def step(self, state, q, k, v):
        aq, bk = q * state["alpha"][..., None], k * state["beta"][..., None]
        m = torch.maximum(state["m"], bk.amax(-1))
        rescale = torch.exp(state["m"] - m)  # 0 before the first token
        carried = {"S": state["S"] * rescale[..., None, None], "z": state["z"] * rescale[..., None]}
        out, carried = kernel_step(carried, torch.exp(aq - aq.amax(-1, keepdim=True)), torch.exp(bk - m[..., None]),
                                   v, eps=self.eps)
        return out, {**state, **carried, "m": m}

def block_diagonal_softmax(q, k, v, key_padding_mask, block: int, causal: bool):
    """Softmax with 1/sqrt(d) inside blocks of `block` consecutive tokens (causal: j <= i in a block)."""
    B, H, N, _ = q.shape
    qb, kb, vb, real = to_rows(q, k, v, key_padding_mask, block)
    allowed = real[:, :, :, None, :].expand(B, 1, qb.shape[2], block, block)  # real keys
    if causal:
        allowed = allowed & torch.ones(block, block, dtype=torch.bool, device=q.device).tril()
    # a query whose block has no real key (padding only) attends to itself, to stay finite
    allowed = allowed | (~allowed.any(-1, keepdim=True) & torch.eye(block, dtype=torch.bool, device=q.device))
    out = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=allowed)
    return out.reshape(B, H, -1, v.shape[-1])[:, :, :N]

@register_attention("lln_diag")
class LLNDiagAttention(LLNAttention):
    """LLN + Diag (spec/attention.md "LLN + Diag"); `combine`: mean | learnable_scale | learnable_ratio."""

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, eps: float = 1e-8,
                 lln_stats: str = "masked", chunk_size: int = 64, combine: str = "mean"):
        super().__init__(dim_head, num_heads, causal, max_len, eps, lln_stats, chunk_size)
        if combine not in ("mean", "learnable_scale", "learnable_ratio"):
            raise ConfigError(f"attention.combine: expected mean, learnable_scale or learnable_ratio, got '{combine}'")
        self.combine = combine
        if combine == "learnable_scale":
            self.r = nn.Parameter(torch.full((num_heads, 1, dim_head), 0.5))
            self.p = nn.Parameter(torch.full((num_heads, 1, dim_head), 0.5))
        elif combine == "learnable_ratio":
            self.r = nn.Parameter(torch.full((num_heads, 1, dim_head), 0.5))

    def forward(self, q, k, v, key_padding_mask=None):
        o_lln = self.lln(q, k, v, key_padding_mask)
        o_diag = block_diagonal_softmax(q, k, v, key_padding_mask, self.dim_head, self.causal)
        return self._combine(o_lln, o_diag)

    def _combine(self, o_lln, o_diag):
        if self.combine == "mean":
            return (o_lln + o_diag) / 2
        r = self.r if o_lln.ndim == 4 else self.r[:, 0]  # [H, 1, d] for sequences, [H, d] for one token
        if self.combine == "learnable_scale":
            return r * o_lln + (self.p if o_lln.ndim == 4 else self.p[:, 0]) * o_diag
        return r * o_lln + (1 - r) * o_diag

    # Recurrent form: the LLN state plus the keys and values of the current diagonal block (<= d tokens).
    def init_state(self, batch, device, dtype, calibration=None):
        empty = torch.zeros(batch, self.num_heads, 0, self.dim_head, device=device, dtype=dtype)
        return {**super().init_state(batch, device, dtype, calibration), "block_k": empty, "block_v": empty,
                "count": 0}

    def prefill(self, q, k, v, calibration=None):
        start = (q.shape[2] // self.dim_head) * self.dim_head
        return {**super().prefill(q, k, v, calibration), "block_k": k[:, :, start:], "block_v": v[:, :, start:],
                "count": q.shape[2]}

    def step(self, state, q, k, v):
        o_lln, state = super().step(state, q, k, v)
        fresh = state["count"] % self.dim_head == 0
        block_k = torch.cat([state["block_k"][:, :, :0] if fresh else state["block_k"], k[:, :, None]], dim=2)
        block_v = torch.cat([state["block_v"][:, :, :0] if fresh else state["block_v"], v[:, :, None]], dim=2)
        o_diag = F.scaled_dot_product_attention(q[:, :, None], block_k, block_v)[:, :, 0]
        return self._combine(o_lln, o_diag), {**state, "block_k": block_k, "block_v": block_v,
                                              "count": state["count"] + 1}

