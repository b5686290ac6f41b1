"""Combiner-Axial, row-major (Ren et al., NeurIPS 2021, Sec. 4.3; spec/attention.md "Combiner"). Authors'
code: google-research/google-research `combiner/combiner/tf/approx_attention.py`, `axial_rowmajor`
(commit bc66d082481ed4d3fdad63ce6b555513340b5a75), and JAX `combiner/combiner/jax/model/layer.py`,
`_SelfAttAxialRowmajor`.

The sequence is read as rows of m tokens laid out by `masking.grid_layout` (`row_length`; 0 =
floor(sqrt(max_len)): the 32 pixel rows of Image and Pathfinder, a CLS token in a short first row).
Query i at (row s, column c) attends directly to its own row (causal: j <= i) and to every other row
r (causal: earlier rows only) through r's summary at the query's column: value u[r, c] = softmax
attention inside row r with query q[r, c] over the whole row (an earlier row lies wholly in the past),
one joint softmax over [direct logits; region logits], all with 1/sqrt(d) (Eq. 9).

`row_summary` (the summary's key), each a branch of the TF `axial_rowmajor`:
- `none` (default): k[r, c], the TF `row_summary == 'none'` branch (`key_row = key_row_local`); equal
  to it to 1e-15 in float64 (tests/test_oracles.py transcribes the TF function);
- `wsum`: sum_j p_row(j) k_j, the TF `'wsum'` branch (the row's keys weighted like its values);
- `head_proj`: LayerNorm_d(k[r, c] + u[r, c] W_h), a learned per-head d x d map. NOT the authors'
  `proj` (their default, W2 LN_D(x + Dropout(W1 u_all)) on the layer input x and all heads' u, which
  the q, k, v contract cannot carry); it was this project's default `proj` before issue 17.

Padding and short rows (not in the authors' code, which has neither): where position (r, c) is not a
real token, row r's summary for column c uses the row's max-pooled real queries and keys in place of
q[r, c] and k[r, c] (Combiner-Fixed's summary), so every query gives weight > 0 to every real key it
may see (`full_attention`). The non-causal TF code also lets a query see its own row's summary
(`own_row_summary`, default False: the paper's "other rows").
"""

import torch
from torch import nn

from ..errors import ConfigError
from .masking import from_grid_rows, grid_layout, to_grid_rows
from .registry import Attention, register_attention

ROW_SUMMARIES = ("none", "wsum", "head_proj")


def fill_missing_with_row_max(x: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """x [B, H, n, m, D] with every not-real position replaced by the max over its row's real positions."""
    neg = torch.finfo(x.dtype).min
    pooled = x.masked_fill(~real[..., None], neg).amax(dim=3, keepdim=True)
    return torch.where(real[..., None], x, pooled.expand_as(x))


@register_attention("combiner_axial")
class CombinerAxialAttention(Attention):
    full_attention = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, row_length: int = 0,
                 row_summary: str = "none", own_row_summary: bool = False):
        super().__init__(dim_head, num_heads, causal, max_len)
        if row_summary == "proj":
            raise ConfigError("attention.row_summary: 'proj' was renamed 'head_proj' (a per-head map, not the authors' "
                              f"proj); expected one of {', '.join(ROW_SUMMARIES)}")
        if row_summary not in ROW_SUMMARIES:
            raise ConfigError(f"attention.row_summary: expected one of {', '.join(ROW_SUMMARIES)}, got '{row_summary}'")
        self.row_length, self.row_summary, self.own_row_summary = row_length, row_summary, own_row_summary
        if row_summary == "head_proj":
            self.summary_proj = nn.Parameter(torch.randn(num_heads, dim_head, dim_head) / dim_head**0.5)
            self.summary_norm = nn.LayerNorm(dim_head)

    def forward(self, q, k, v, key_padding_mask=None):
        p_direct, p_region, p_row, u, vr, fill = self._weights(q, k, v, key_padding_mask)
        out = p_direct @ vr + torch.einsum("bhscr,bhrcd->bhscd", p_region, u)
        return from_grid_rows(out, q.shape[2], fill)

    def attention_matrix(self, q, k, key_padding_mask=None, v=None):
        """A with output = A V, read off the factorisation: with `head_proj` the region keys depend on V
        (through u), so A needs the real `v`; V = identity would change the keys."""
        if v is None and self.row_summary == "head_proj":
            raise ValueError("combiner_axial with row_summary=head_proj: A depends on V; pass v")
        B, H, N, _ = q.shape
        p_direct, p_region, p_row, _, _, fill = self._weights(q, k, q if v is None else v, key_padding_mask)
        n, m = p_direct.shape[2], p_direct.shape[3]
        direct = torch.zeros(B, H, n, m, n, m, dtype=q.dtype, device=q.device)
        direct[:, :, torch.arange(n), :, torch.arange(n), :] = p_direct.permute(2, 0, 1, 3, 4)
        # region r at column c spreads over row r by that row's softmax with (filled) query q[r, c]
        regional = torch.einsum("bhscr,bhrcj->bhscrj", p_region, p_row)
        A = (direct + regional).reshape(B, H, n * m, n * m)
        return A[:, :, fill:fill + N, fill:fill + N]

    def _weights(self, q, k, v, key_padding_mask):
        """Direct probabilities [B, H, n, m, m], region probabilities [B, H, n, m, n] (one joint softmax),
        within-row softmax p_row [B, H, n, m, m] of the summary queries, row summaries u [B, H, n, m, dv],
        rows of v, and the front fill of the layout."""
        D = q.shape[-1]
        m, fill = grid_layout(self.max_len, self.row_length)
        qr, kr, vr, real_r = to_grid_rows(q, k, v, key_padding_mask, m, fill)
        n = qr.shape[2]
        key_ok = real_r[:, :, :, None, :]
        # direct logits: query (s, c) against every key of its row s
        direct = torch.einsum("bhscd,bhsjd->bhscj", qr, kr) * D**-0.5
        # summary of row r at column c: the query and key at (r, c), or the row's max-pool where (r, c) is not real
        q_sum, k_sum = fill_missing_with_row_max(qr, real_r), fill_missing_with_row_max(kr, real_r)
        inner = torch.einsum("bhscd,bhsjd->bhscj", q_sum, kr) * D**-0.5
        p_row = inner.masked_fill(~key_ok, float("-inf")).softmax(dim=-1).nan_to_num(0.0)
        u = p_row @ vr  # u[r, c]: row r attended by its summary query for column c
        if self.row_summary == "none":
            k_hat = k_sum
        elif self.row_summary == "wsum":
            k_hat = p_row @ kr
        else:
            k_hat = self.summary_norm(k_sum + torch.einsum("bhscd,hde->bhsce", u, self.summary_proj.to(u.dtype)))
        region = torch.einsum("bhscd,bhrcd->bhscr", qr, k_hat) * D**-0.5  # query (s, c) vs row r's summary at c
        rows = torch.arange(n, device=q.device)
        own, other = rows[:, None], rows[None, :]
        visible = (other < own) if self.causal else (other != own) | self.own_row_summary  # [s, r]
        row_real = real_r.any(-1)  # [B, 1, r]: row r has a real token
        region_ok = visible[None, None, :, None, :] & row_real[:, :, None, None, :]
        direct_ok = key_ok
        if self.causal:
            direct_ok = direct_ok & torch.ones(m, m, dtype=torch.bool, device=q.device).tril()
        logits = torch.cat([direct.masked_fill(~direct_ok, float("-inf")),
                            region.masked_fill(~region_ok, float("-inf"))], dim=-1)
        probs = logits.softmax(dim=-1).nan_to_num(0.0)  # rows with nothing visible are padding only
        return probs[..., :m], probs[..., m:], p_row, u, vr, fill
