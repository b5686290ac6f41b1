"""Linear Log-Normal attention (Nahshan, Kampeas, Haleva, ICLR 2024; spec/attention.md "LLN"). Authors'
code: ynahshan/linear-lognormal-attention at commit 92505b9a19a0385764f1dabc4c27c0a8161d01c0,
`lln/lln_attention.py`, class `LLNAttention`.

Moment matching, recomputed at every call without gradient: with the authors' fitted a, b,
sigma~^2 = (sigma_q^2 sigma_k^2 - b) / (2a), alpha = sigma~ / sigma_q, beta = sigma~ / sigma_k.
Features f = exp(alpha q - max_c alpha q), g = exp(beta k - max_{j,c} beta k) (shifts cancel), no
1/sqrt(d), eps added to the denominator; computed in float32 under autocast.

eps = 1e-5: what the authors' experiments ran (`lln/lln_transformer.py` line 69, `LLNSelfAttention`
builds `LLNPlusDiagAttention(..., eps=1e-5)`; README line 20 likewise); their class default is 1e-8,
which differs from it by 13 in output at q, k std 3 (max |diff|, [2, 4, 64, 16], float64).

`lln_stats` names what one std pools (sigma_q over q, sigma_k over k, unbiased):
- `batch` (default): every real token of the batch, all heads and channels: the authors' `q.std()`,
  equal to their `LLNAttention` to 1e-14 in float64 on unpadded input, pads excluded (so
  padding-invariant, but a sample's output depends on its batch: `batch_statistics`);
- `batch_with_padding`: the whole padded tensor, pads included: the authors' code on a padded batch;
- `sequence`: each sequence's real tokens, all heads pooled (batch-independent);
- `sequence_head`: each sequence's and head's real tokens (this project's default before issue 17).
Max |diff| to the authors' `LLNAttention(eps=1e-5)` (causal product by a plain stand-in), float64,
unpadded [B, H, N, d] = [2, 4, 64, 16], outputs up to ~2.5, i.i.d. heads / heads of std 0.5, 1, 2, 4:
`batch` 2e-15 / 6e-15 (causal 2e-15 / 6e-15); `sequence` 0.012 / 0.093 (causal 0.018 / 0.093);
`sequence_head` with the old eps 1e-8: 0.037 / 1.47 (causal 0.048 / 2.5).
"""

import torch

from ..errors import ConfigError
from .linear_core import kernel_prefill, kernel_state, kernel_step, linear_attention
from .masking import expand_mask
from .registry import Attention, register_attention

# The authors' fitted constants (lln/lln_attention.py, LLNAttention.forward: `a`, `b`).
FIT_A = 0.14855178144710912
FIT_B = -0.35487039130661086

# dims of a [B, H, N, d] tensor that one std pools
STATISTICS = {"batch": (0, 1, 2, 3), "batch_with_padding": (0, 1, 2, 3), "sequence": (1, 2, 3),
              "sequence_head": (2, 3)}
RENAMED = {"masked": "sequence_head", "tensor": "batch_with_padding"}


def check_statistics(lln_stats: str) -> None:
    if lln_stats in RENAMED:
        raise ConfigError(f"attention.lln_stats: '{lln_stats}' was renamed '{RENAMED[lln_stats]}' (the default is now "
                          f"'batch', the authors' statistic); expected one of {', '.join(STATISTICS)}")
    if lln_stats not in STATISTICS:
        raise ConfigError(f"attention.lln_stats: expected one of {', '.join(STATISTICS)}, got '{lln_stats}'")


def moment_matched_scales(sigma_q: torch.Tensor, sigma_k: torch.Tensor):
    """alpha, beta of the LLN paper from the standard deviations of q and k (spec formula)."""
    sigma_tilde = torch.sqrt((sigma_q**2 * sigma_k**2 - FIT_B) / (2 * FIT_A))
    return sigma_tilde / sigma_q, sigma_tilde / sigma_k


def pooled_std(x: torch.Tensor, mask: torch.Tensor | None, lln_stats: str) -> torch.Tensor:
    """Unbiased std of x [B, H, N, d] pooled as `lln_stats` names, one per (batch, head) [B, H]."""
    dims = STATISTICS[lln_stats]
    if lln_stats == "batch_with_padding":
        mask = None
    weights = expand_mask(mask, x).expand_as(x)
    count = weights.sum(dim=dims, keepdim=True)
    mean = (x * weights).sum(dim=dims, keepdim=True) / count
    var = (((x - mean) ** 2) * weights).sum(dim=dims, keepdim=True) / (count - 1).clamp_min(1)
    return var.sqrt().expand(x.shape[0], x.shape[1], 1, 1)[..., 0, 0]


@register_attention("lln")
class LLNAttention(Attention):
    """Recurrent form: alpha, beta are decode-time constants (from `calibration`, else the prompt, else
    unit-variance inputs); the key shift becomes a running max that rescales the state exactly (the
    outputs equal the parallel form's at eps = 0; eps acts on the shifted denominator)."""

    bf16_tolerance = 0.05
    statistics_see_future = True  # sigma_q, sigma_k and the key shift span the whole sequence, as in the paper
    compute_in_float32 = True
    fla_causal = True
    supports_step = True
    step_equals_parallel_with = {"eps": 0.0}

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, eps: float = 1e-5,
                 lln_stats: str = "batch", chunk_size: int = 64):
        super().__init__(dim_head, num_heads, causal, max_len)
        check_statistics(lln_stats)
        self.eps, self.lln_stats, self.chunk_size = eps, lln_stats, chunk_size
        self.batch_statistics = lln_stats.startswith("batch")

    def lln(self, q, k, v, key_padding_mask):
        with torch.autocast(q.device.type, enabled=False), torch.no_grad():
            alpha, beta = moment_matched_scales(pooled_std(q, key_padding_mask, self.lln_stats),
                                                pooled_std(k, key_padding_mask, self.lln_stats))
        with torch.autocast(q.device.type, enabled=False):
            aq = q * alpha[..., None, None]
            bk = k * beta[..., None, None]
            f = torch.exp(aq - aq.amax(dim=-1, keepdim=True).detach())
            real = expand_mask(key_padding_mask, bk) > 0
            k_max = bk.masked_fill(~real, float("-inf")).amax(dim=(2, 3), keepdim=True).detach()
            g = torch.exp((bk - k_max).masked_fill(~real, float("-inf")))
            return linear_attention(f, g, v, key_padding_mask, self.causal, eps=self.eps, chunk_size=self.chunk_size,
                                    use_fla=self.use_fla(q))

    def forward(self, q, k, v, key_padding_mask=None):
        return self.lln(q, k, v, key_padding_mask)

    def scales(self, calibration, batch, device, dtype):
        """alpha, beta [B, H] from a (q, k, v) sequence, or for unit-variance q and k without one."""
        if calibration is None:
            one = torch.ones(batch, self.num_heads, device=device, dtype=dtype)
            return moment_matched_scales(one, one)
        q, k, _ = calibration
        with torch.no_grad():
            return moment_matched_scales(pooled_std(q, None, self.lln_stats), pooled_std(k, None, self.lln_stats))

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
