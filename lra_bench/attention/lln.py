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
from .linear_core import linear_attention
from .masking import expand_mask, pad_to_multiple
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
    bf16_tolerance = 0.05
    statistics_see_future = True  # sigma_q, sigma_k and the key shift span the whole sequence, as in the paper

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

def block_diagonal_softmax(q, k, v, key_padding_mask, block: int, causal: bool):
    """Softmax with 1/sqrt(d) inside blocks of `block` consecutive tokens (causal: j <= i in a block)."""
    B, H, N, D = q.shape
    qb, kb, vb = (pad_to_multiple(t, block).view(B, H, -1, block, D) for t in (q, k, v))
    real = torch.ones(B, N, dtype=torch.bool, device=q.device) if key_padding_mask is None else key_padding_mask
    real = pad_to_multiple(real[:, None, :, None].float(), block).view(B, 1, -1, 1, block) > 0  # keys
    allowed = real.expand(B, 1, qb.shape[2], block, block)
    if causal:
        allowed = allowed & torch.ones(block, block, dtype=torch.bool, device=q.device).tril()
    # a query whose block has no real key (padding only) attends to itself, to stay finite
    allowed = allowed | (~allowed.any(-1, keepdim=True) & torch.eye(block, dtype=torch.bool, device=q.device))
    out = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=allowed)
    return out.reshape(B, H, -1, D)[:, :, :N]

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
        if self.combine == "mean":
            return (o_lln + o_diag) / 2
        if self.combine == "learnable_scale":
            return self.r * o_lln + self.p * o_diag
        return self.r * o_lln + (1 - self.r) * o_diag

