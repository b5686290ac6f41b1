"""Combiner-Axial, row-major (Ren et al., NeurIPS 2021, Sec. 4.3; authors' TF code
`combiner/tf/approx_attention.py`, `axial_rowmajor`; spec/attention.md "Combiner").

The sequence is read as rows of m tokens (`row_length`; 0 = ceil(sqrt(max_len)), i.e. the 32-pixel
rows of Image and Pathfinder). Query i at (row r_i, column c_i) attends directly to its own row
(causal: j <= i) and to every other row r (causal: earlier rows only) through r's summary at the
query's column: value u[r, c_i] = softmax attention inside row r with query q[r, c_i] over the
whole row (an earlier row lies wholly in the past), key k[r, c_i] (`row_summary: none`) or
LayerNorm(k[r, c_i] + u[r, c_i] W) with a learned per-head W (`proj`). The TF default `proj`
projects the layer's whole u and adds the layer's input; a variant sees only q, k, v, so ours is
that projection in head space. One joint softmax over [direct logits; region logits], all with
1/sqrt(d) (Eq. 9). A region whose summary position (r, c_i) is padding is dropped (its query and
key would be padding). The non-causal TF code also lets a query see its own row's summary
(`own_row_summary`, default False: the paper's "other rows").
"""

import math

import torch
from torch import nn

from ..errors import ConfigError
from .masking import to_rows
from .registry import Attention, register_attention

ROW_SUMMARIES = ("proj", "none")


@register_attention("combiner_axial")
class CombinerAxialAttention(Attention):
    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, row_length: int = 0,
                 row_summary: str = "proj", own_row_summary: bool = False):
        super().__init__(dim_head, num_heads, causal, max_len)
        if row_summary not in ROW_SUMMARIES:
            raise ConfigError(f"attention.row_summary: expected one of {', '.join(ROW_SUMMARIES)}, got '{row_summary}'")
        self.row_length, self.row_summary, self.own_row_summary = row_length, row_summary, own_row_summary
        if row_summary == "proj":
            self.summary_proj = nn.Parameter(torch.randn(num_heads, dim_head, dim_head) / dim_head**0.5)
            self.summary_norm = nn.LayerNorm(dim_head)

    def forward(self, q, k, v, key_padding_mask=None):
        p_direct, p_region, p_row, u, vr = self._weights(q, k, v, key_padding_mask)
        B, H, n, m, _ = p_direct.shape
        out = p_direct @ vr + torch.einsum("bhscr,bhrcd->bhscd", p_region, u)
        return out.reshape(B, H, n * m, -1)[:, :, : q.shape[2]]

    def attention_matrix(self, q, k, key_padding_mask=None, v=None):
        """A with output = A V, read off the factorisation: with `proj` the region keys depend on V
        (through u), so A needs the real `v`; V = identity would change the keys."""
        if v is None and self.row_summary == "proj":
            raise ValueError("combiner_axial with row_summary=proj: A depends on V; pass v")
        B, H, N, _ = q.shape
        p_direct, p_region, p_row, _, _ = self._weights(q, k, q if v is None else v, key_padding_mask)
        n, m = p_direct.shape[2], p_direct.shape[3]
        direct = torch.zeros(B, H, n, m, n, m, dtype=q.dtype, device=q.device)
        direct[:, :, torch.arange(n), :, torch.arange(n), :] = p_direct.permute(2, 0, 1, 3, 4)
        # region r at column c spreads over row r by that row's softmax with query q[r, c]
        regional = torch.einsum("bhscr,bhrcj->bhscrj", p_region, p_row)
        A = (direct + regional).reshape(B, H, n * m, n * m)
        return A[:, :, :N, :N]

    def _weights(self, q, k, v, key_padding_mask):
        """Direct probabilities [B, H, n, m, m], region probabilities [B, H, n, m, n] (one joint softmax),
        within-row softmax p_row [B, H, n, m, m], row summaries u [B, H, n, m, dv] and rows of v."""
        D, m = q.shape[-1], self.row_length or math.ceil(math.sqrt(self.max_len))
        qr, kr, vr, real_r = to_rows(q, k, v, key_padding_mask, m)
        n = qr.shape[2]
        # within-row logits: query (s, c) against every key of row s; they are also the direct logits
        inner = torch.einsum("bhscd,bhsjd->bhscj", qr, kr) * D**-0.5  # [B, H, n, m, m]
        key_ok = real_r[:, :, :, None, :]
        p_row = inner.masked_fill(~key_ok, float("-inf")).softmax(dim=-1).nan_to_num(0.0)
        u = p_row @ vr  # u[s, c]: row s attended by its own query at column c
        k_hat = kr if self.row_summary == "none" else self.summary_norm(
            kr + torch.einsum("bhscd,hde->bhsce", u, self.summary_proj.to(u.dtype)))
        region = torch.einsum("bhscd,bhrcd->bhscr", qr, k_hat) * D**-0.5  # query (s, c) vs row r's summary at c
        rows = torch.arange(n, device=q.device)
        own, other = rows[:, None], rows[None, :]
        visible = (other < own) if self.causal else (other != own) | self.own_row_summary  # [s, r]
        summary_real = real_r.transpose(-1, -2)[:, :, None, :, :]  # [B, 1, 1, c, r]: position (r, c) is real
        region_ok = visible[None, None, :, None, :] & summary_real
        direct_ok = key_ok
        if self.causal:
            direct_ok = direct_ok & torch.ones(m, m, dtype=torch.bool, device=q.device).tril()
        logits = torch.cat([inner.masked_fill(~direct_ok, float("-inf")),
                            region.masked_fill(~region_ok, float("-inf"))], dim=-1)
        probs = logits.softmax(dim=-1).nan_to_num(0.0)  # rows with nothing visible are padding only
        return probs[..., :m], probs[..., m:], p_row, u, vr
