"""Latte: latent attention (Dolga, Maystre, Cobzarenco, Barber 2024; authors' code
raresdolga/latte_transformer `models/modules/latte.py`; spec/attention.md "Latte").

o_t = sum_l p(l|t) sum_{s in S_t} p(s|l,t) v_s with p(l|t) = softmax_l of the query's latent logits
and p(s|l,t) = exp(k_{s,l}) / sum_{s' in S_t} exp(k_{s',l}); no 1/sqrt(d). The head's q and k
channels are the latent logits (L/H = d, the authors' model when L = D); `num_latents` (total over
heads) different from heads x d adds a learned per-head d -> L/H map on q and k.

Non-causal: O = softmax_l(Q) (softmax_s(K)^T V). Causal: per latent, a running max m (stop-gradient)
keeps exp(k - m) <= 1; computed chunk by chunk: inside a chunk every term uses the chunk's reference
(the running max up to the chunk's end), and the state of earlier chunks is rescaled by
exp(R_j - R_c) <= 1. State per step: L x d, constant in the length. In training, the causal form drops
out p(l|t) with rate `latent_dropout` as the authors' `StableScanLatte` does (`Q_drop`, applied to
softmax(Q); their class default 0.2, commit 77d7e33e6d0db4046cc581b47d60e01716c58dc5, lines 183, 225,
242); their bidirectional `BidLatte` has no such dropout, nor has our non-causal form. On CUDA with
fla installed the same scan runs as gated linear attention in fla's `chunk_gla` (`latte_as_gla`);
LRA_BENCH_FLA=0 keeps the plain-PyTorch form, the reference.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .masking import pad_to_multiple
from .registry import Attention, register_attention


@register_attention("latte")
class LatteAttention(Attention):
    supports_step = True
    fla_causal = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, num_latents: int = 0, chunk_size: int = 64,
                 latent_dropout: float = 0.2):
        super().__init__(dim_head, num_heads, causal, max_len)
        if not 0 <= latent_dropout < 1:
            raise ConfigError(f"attention.latent_dropout: expected a rate in [0, 1), got {latent_dropout}")
        self.chunk_size, self.latent_dropout = chunk_size, latent_dropout
        total = num_latents or num_heads * dim_head
        if total % num_heads:
            raise ConfigError(f"attention.num_latents: {total} must be divisible by the number of heads {num_heads}")
        self.latents_per_head = total // num_heads
        if self.latents_per_head != dim_head:
            self.q_map = nn.Parameter(torch.randn(num_heads, dim_head, self.latents_per_head) / dim_head**0.5)
            self.k_map = nn.Parameter(torch.randn(num_heads, dim_head, self.latents_per_head) / dim_head**0.5)
        else:
            self.q_map = self.k_map = None

    def latent_logits(self, q, k):
        """The query's and key's latent logits: the head's channels, or their learned map to L/H."""
        if self.q_map is None:
            return q, k
        return (torch.einsum("bh...d,hdl->bh...l", q, self.q_map.to(q.dtype)),
                torch.einsum("bh...d,hdl->bh...l", k, self.k_map.to(k.dtype)))

    # Recurrent form: per latent, the running max m and the rescaled sums S (with v) and Z (without).
    def init_state(self, batch, device, dtype, calibration=None):
        shape = (batch, self.num_heads, self.latents_per_head)
        return {"S": torch.zeros(*shape, self.dim_head, device=device, dtype=dtype),
                "Z": torch.zeros(*shape, device=device, dtype=dtype),
                "m": torch.full(shape, float("-inf"), device=device, dtype=dtype)}

    def prefill(self, q, k, v, calibration=None):
        _, logits = self.latent_logits(q, k)
        m = logits.amax(dim=2)
        weights = torch.exp(logits - m[:, :, None])
        return {"S": torch.einsum("bhtl,bhtd->bhld", weights, v), "Z": weights.sum(dim=2), "m": m}

    def step(self, state, q, k, v):
        query, logits = self.latent_logits(q, k)
        m = torch.maximum(state["m"], logits)
        decay, weight = torch.exp(state["m"] - m), torch.exp(logits - m)
        S = state["S"] * decay[..., None] + weight[..., None] * v[:, :, None, :]
        Z = state["Z"] * decay + weight
        out = torch.einsum("bhl,bhld->bhd", query.softmax(dim=-1), S / Z[..., None])
        return out, {"S": S, "Z": Z, "m": m}

    def forward(self, q, k, v, key_padding_mask=None):
        q, k = self.latent_logits(q, k)
        if key_padding_mask is not None:
            k = k.masked_fill(~key_padding_mask[:, None, :, None], float("-inf"))
        p_latent = q.softmax(dim=-1)
        if not self.causal:
            p_key = k.softmax(dim=2)  # over positions s
            return p_latent @ (p_key.transpose(-1, -2) @ v)
        p_latent = F.dropout(p_latent, self.latent_dropout, self.training)  # the authors' Q_drop
        if self.use_fla(q):
            return causal_latte_fla(p_latent, k, v)
        return causal_latte(p_latent, k, v, self.chunk_size)


def latte_as_gla(p_latent: torch.Tensor, logits: torch.Tensor):
    """Causal Latte as gated linear attention S_t = exp(g_t) S_{t-1} + key_t v_t^T, o_t = query_t S_t:
    per latent, with the running max m_t (stop-gradient), key_t = exp(k_t - m_t) <= 1, log-gate
    g_t = m_{t-1} - m_t <= 0 and query_t = p(l|t) / Z_t, Z_t = sum_{s<=t} exp(k_s - m_t) >= 1. Padded
    logits (-inf) are floored at -1e4, so their exp is 0 once a real key has been seen."""
    logits = logits.clamp_min(-1e4)
    m = logits.cummax(dim=2).values.detach()
    gate = torch.cat([torch.zeros_like(m[:, :, :1]), m[:, :, :-1] - m[:, :, 1:]], dim=2)
    normaliser = torch.exp(torch.logcumsumexp(logits, dim=2) - m)
    return p_latent / normaliser, torch.exp(logits - m), gate


def causal_latte_fla(p_latent: torch.Tensor, logits: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """`latte_as_gla` through fla's chunked GLA kernel (scale 1); [B, H, N, *] in and out."""
    from fla.ops.gla import chunk_gla

    query, key, gate = latte_as_gla(p_latent, logits)
    out, _ = chunk_gla(*(t.transpose(1, 2) for t in (query, key, v, gate)), scale=1.0)
    return out.transpose(1, 2).to(v.dtype)


def causal_latte(p_latent: torch.Tensor, logits: torch.Tensor, v: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """o_t = sum_l p(l|t) (sum_{s<=t} exp(k_sl) v_s) / (sum_{s<=t} exp(k_sl)), chunk-parallel and stable."""
    B, H, N, L = logits.shape
    C = min(chunk_size, N)
    P, K, V = (pad_to_multiple(t, C) for t in (p_latent, logits, v))
    K = torch.cat([K[:, :, :N], K.new_full((B, H, K.shape[2] - N, L), float("-inf"))], dim=2)
    n = K.shape[2] // C
    P, K, V = P.view(B, H, n, C, L), K.view(B, H, n, C, L), V.view(B, H, n, C, -1)
    # reference per chunk and latent: running max up to the chunk's end (finite floor for all-padding)
    ref = K.amax(dim=3).cummax(dim=2).values.clamp_min(-1e4).detach()  # [B, H, n, L]
    G = torch.exp(K - ref[:, :, :, None, :])  # [B, H, n, C, L], entries in [0, 1]
    chunk_state = torch.einsum("bhncl,bhncd->bhnld", G, V)
    chunk_norm = G.sum(dim=3)
    # earlier chunks' contribution in chunk c's reference: sum_{j<c} exp(R_j - R_c) * state_j
    decay = torch.exp(ref[:, :, None, :, :] - ref[:, :, :, None, :])  # [B, H, c, j, L]
    earlier = torch.ones(n, n, dtype=torch.bool, device=K.device).tril(-1)[None, None, :, :, None]
    decay = decay * earlier
    state = torch.einsum("bhcjl,bhjld->bhcld", decay, chunk_state)
    norm = torch.einsum("bhcjl,bhjl->bhcl", decay, chunk_norm)
    # normaliser at each position: earlier chunks + this chunk's prefix
    Z = norm[:, :, :, None, :] + G.cumsum(dim=3)
    W = P / Z.clamp_min(torch.finfo(Z.dtype).tiny)  # p(l|t) / Z_{t,l}
    tril = torch.ones(C, C, dtype=torch.bool, device=K.device).tril()
    scores = torch.einsum("bhntl,bhnsl->bhnts", W, G).masked_fill(~tril, 0.0)
    out = scores @ V + torch.einsum("bhntl,bhnld->bhntd", W, state)
    return out.reshape(B, H, n * C, -1)[:, :, :N]
