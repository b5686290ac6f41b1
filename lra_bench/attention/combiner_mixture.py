"""Combiner-Mixture, causal (Ren et al., NeurIPS 2021, Sec. 4.3; authors' JAX code
`combiner/jax/model/layer.py`, `_AxialMixtureAtt`; spec/attention.md "Combiner").

The sequence is read as rows of m tokens laid out by `masking.grid_layout` (`row_length`; 0 =
floor(sqrt(max_len)), a CLS token in a short first row). Query i at (row s,
column u) sees, in one joint softmax (the code's union of two plans' terms, not an average of two
attentions):
- direct: its own column in earlier rows (t < s), and its own row up to itself (columns <= u);
- for every other column j (j != u), the summary of column j over the rows above (t < s);
- for every earlier row t (t < s), the summary of its columns left of u, and of its columns right of u.
So every earlier-row token is reached twice (through its column and through its row), as in the code.
A summary of a span keys on the cumulative max of its keys, and its value is softmax attention over
the span with the cumulative max of its queries as the query (JAX `lax.cummax`; the TF code's
"cummax" is a cumulative sum). All logits carry 1/sqrt(d). Padded tokens join no pool and no softmax.
Causal only: the code has no non-causal form (the TF `axial_mixture_bidir` counts a query's own token
twice, its TODO), so LRA's non-causal tasks show n/a.
"""

import torch

from .masking import from_grid_rows, grid_layout, to_grid_rows
from .registry import Attention, register_attention

NEG = float("-inf")


def _span_summaries(q, k, v, real, dim, reverse):
    """For each position p along `dim`: key = max of k over the span [0..p] (or [p..end] when `reverse`),
    value = softmax attention over that span with the span's max-pooled query; plus the number of real
    tokens in the span (a count, not a bool: inductor's CPU code generator fails on shifted bool masks).
    q, k, v: [B, H, n, m, D] (rows, columns); real: [B, 1, n, m]."""
    if reverse:
        q, k, v, real = (t.flip(dim) for t in (q, k, v, real))
    fill = ~real[..., None]
    q_pool = q.masked_fill(fill, NEG).cummax(dim=dim).values
    k_pool = k.masked_fill(fill, NEG).cummax(dim=dim).values
    count = real.to(q.dtype).cumsum(dim=dim)  # real [B, 1, n, m] shares dims 2 and 3 with q
    q_pool, k_pool = (t.masked_fill(count[..., None] == 0, 0.0) for t in (q_pool, k_pool))
    if dim == 2:  # spans down a column: query (r, c) against keys (t, c), t <= r
        logits = torch.einsum("bhrcd,bhtcd->bhcrt", q_pool, k)
        size = q.shape[2]
        ok = torch.ones(size, size, dtype=torch.bool, device=q.device).tril() & real.permute(0, 1, 3, 2)[:, :, :, None, :]
        values = torch.einsum("bhcrt,bhtcd->bhrcd", _softmax(logits, ok, q.shape[-1]), v)
    else:  # spans along a row: query (r, c) against keys (r, j), j <= c
        logits = torch.einsum("bhrcd,bhrjd->bhrcj", q_pool, k)
        size = q.shape[3]
        ok = torch.ones(size, size, dtype=torch.bool, device=q.device).tril() & real[:, :, :, None, :]
        values = torch.einsum("bhrcj,bhrjd->bhrcd", _softmax(logits, ok, q.shape[-1]), v)
    if reverse:
        k_pool, values, count = (t.flip(dim) for t in (k_pool, values, count))
    return k_pool, values, count


def _softmax(logits, ok, dim_head):
    return (logits * dim_head**-0.5).masked_fill(~ok, NEG).softmax(dim=-1).nan_to_num(0.0)


def _shift(x, dim, step):
    """x shifted by `step` along `dim` (positive: towards higher indices), zero-filled."""
    out = torch.zeros_like(x)
    size = x.shape[dim]
    if step > 0:
        out.narrow(dim, step, size - step).copy_(x.narrow(dim, 0, size - step))
    else:
        out.narrow(dim, 0, size + step).copy_(x.narrow(dim, -step, size + step))
    return out


@register_attention("combiner_mixture")
class CombinerMixtureAttention(Attention):
    supports_noncausal = False
    full_attention = True

    def __init__(self, dim_head, num_heads, causal=True, max_len=4096, row_length: int = 0):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.row_length = row_length

    def forward(self, q, k, v, key_padding_mask=None):
        B, H, N, D = q.shape
        m, fill = grid_layout(self.max_len, self.row_length)
        qr, kr, vr, real_r = to_grid_rows(q, k, v, key_padding_mask, m, fill)
        n = qr.shape[2]
        rows, cols = torch.arange(n, device=q.device), torch.arange(m, device=q.device)
        earlier_row = rows[None, :] < rows[:, None]  # [s, t]: t < s
        scale = D**-0.5

        # direct: own column in earlier rows [B, H, s, u, t]; own row up to the query [B, H, s, u, j]
        col = torch.einsum("bhsud,bhtud->bhsut", qr, kr) * scale
        col_ok = earlier_row[:, None, :] & real_r.permute(0, 1, 3, 2)[:, :, None, :, :]
        row = torch.einsum("bhsud,bhsjd->bhsuj", qr, kr) * scale
        row_ok = (cols[None, :] <= cols[:, None]) & real_r[:, :, :, None, :]

        # other columns, summarised over the rows above: spans rows [0..s-1] of column j
        k_col, v_col, has_col = (_shift(t, 2, 1) for t in _span_summaries(qr, kr, vr, real_r, 2, reverse=False))
        above = torch.einsum("bhsud,bhsjd->bhsuj", qr, k_col) * scale
        above_ok = (cols[None, :] != cols[:, None]) & (has_col > 0)[:, :, :, None, :]

        # earlier rows, summarised left of the query's column (columns [0..u-1]) and right of it ([u+1..])
        k_left, v_left, has_left = (_shift(t, 3, 1) for t in _span_summaries(qr, kr, vr, real_r, 3, reverse=False))
        k_right, v_right, has_right = (_shift(t, 3, -1) for t in _span_summaries(qr, kr, vr, real_r, 3, reverse=True))
        left = torch.einsum("bhsud,bhtud->bhsut", qr, k_left) * scale
        right = torch.einsum("bhsud,bhtud->bhsut", qr, k_right) * scale
        left_ok = earlier_row[:, None, :] & (has_left > 0).permute(0, 1, 3, 2)[:, :, None, :, :]
        right_ok = earlier_row[:, None, :] & (has_right > 0).permute(0, 1, 3, 2)[:, :, None, :, :]

        parts = [(col, col_ok), (row, row_ok), (above, above_ok), (left, left_ok), (right, right_ok)]
        logits = torch.cat([x.masked_fill(~ok, NEG) for x, ok in parts], dim=-1)
        p_col, p_row, p_above, p_left, p_right = logits.softmax(dim=-1).nan_to_num(0.0).split([n, m, m, n, n], dim=-1)
        out = (torch.einsum("bhsut,bhtud->bhsud", p_col, vr) + p_row @ vr
               + torch.einsum("bhsuj,bhsjd->bhsud", p_above, v_col)
               + torch.einsum("bhsut,bhtud->bhsud", p_left, v_left)
               + torch.einsum("bhsut,bhtud->bhsud", p_right, v_right))
        return from_grid_rows(out, N, fill)
