"""Reformer LSH attention (Kitaev, Kaiser, Levskaya, ICLR 2020, arXiv 2001.04451), as LRA ran it.

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/reformer/reformer_attention.py`: `hash_vectors`, `look_one_back`,
`lsh_attention_single_head`, `ReformerAttention.apply`. Defaults from `ReformerAttention.apply`
(`chunk_len=10`, `n_hashes=1`, `n_buckets=10`); `reformer.py` and the LRA configs
(`lra_benchmarks/*/configs/reformer_base.py`) set none of them.

The function LRA computes, per sequence and head, with shared QK (the query vector is also the key;
LRA projects only query and value, so this variant reads q and v, never k):
- the sequence is padded with b - (N mod b) zero tokens, b = `chunk_len` (a whole chunk when b divides N);
- hashing: random rotations R [d, n_hashes, n_buckets/2]; bucket = argmax([q R, -q R]) per hash round,
  offset by round * n_buckets; positions are sorted by (bucket, position) over all rounds together;
- the sorted sequence is cut into n_hashes * n_buckets chunks (LRA's `chunk_size`, a chunk COUNT; each
  chunk holds N_padded / n_buckets tokens); a chunk attends to itself and the previous chunk
  (cyclically: the first looks back at the last), with logits q_i . q_j * sqrt(d) (LRA multiplies by
  sqrt(d) where the paper divides: kept, it is what produced LRA's numbers);
- rounds are combined by their log-sum-exp weights, o = sum_r o_r softmax_r(lse_r).
LRA applies no causal mask (`del causal_mask`), no padding mask, no self-attention mask and no key
normalisation (`length_norm=False`). So this variant is non-causal only (`supports_causal = False`)
and padded keys take part by default (`mask_padding: false`, LRA); `mask_padding: true` excludes
them. Either way the chunking depends on the padded length: not padding-invariant, as LRA.

Randomness: LRA draws the rotations from `jax.random.PRNGKey(0)` inside the function, so every call,
layer and head uses the same rotations. Ours draws them once at construction from
`torch.Generator().manual_seed(hash_seed)` (default 0: the same in every layer and run, as LRA; the
values differ from JAX's) and keeps them as a buffer. Hashing runs in float32 whatever the dtype.

Departures: the fill tokens have q = v = 0 (LRA pads the layer input, so its fill tokens carry the
projection biases); the attention contract gives q, v after the projection.
"""

import math

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .registry import Attention, register_attention


@register_attention("reformer")
class ReformerAttention(Attention):
    supports_causal = False
    padding_invariant = False
    reads_keys = False  # shared QK: q is the key
    bf16_tolerance = 0.1

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, chunk_len: int = 10, n_hashes: int = 1,
                 n_buckets: int = 10, hash_seed: int = 0, mask_padding: bool = False):
        super().__init__(dim_head, num_heads, causal, max_len)
        if n_buckets % 2 or chunk_len % n_buckets:
            raise ConfigError(f"attention=reformer: n_buckets must be even and divide chunk_len "
                              f"(got n_buckets={n_buckets}, chunk_len={chunk_len})")
        self.chunk_len, self.n_hashes, self.n_buckets, self.mask_padding = chunk_len, n_hashes, n_buckets, mask_padding
        g = torch.Generator().manual_seed(hash_seed)
        self.register_buffer("rotations", torch.randn(dim_head, n_hashes, n_buckets // 2, generator=g))

    def buckets(self, q: torch.Tensor) -> torch.Tensor:
        """[B, H, n_hashes * N]: bucket of each position in each round, offset by round * n_buckets."""
        rotated = torch.einsum("bhtf,fri->bhrti", q.float(), self.rotations.float())
        bucket = torch.cat([rotated, -rotated], dim=-1).argmax(dim=-1)
        offsets = torch.arange(self.n_hashes, device=q.device)[:, None] * self.n_buckets
        return (bucket + offsets).flatten(2)

    def forward(self, q, k, v, key_padding_mask=None):
        B, H, N, d = q.shape
        fill = self.chunk_len - N % self.chunk_len
        q, v = F.pad(q, (0, 0, 0, fill)), F.pad(v, (0, 0, 0, fill))
        n = N + fill
        real = None
        if self.mask_padding and key_padding_mask is not None:
            real = F.pad(key_padding_mask, (0, fill), value=False)
        ticker = torch.arange(self.n_hashes * n, device=q.device)
        order = (n * self.buckets(q) + ticker % n).argsort(dim=-1)  # sorted slot -> (round, position)
        undo = order.argsort(dim=-1)
        position = order % n
        e = v.shape[-1]
        sq = q.gather(2, position[..., None].expand(-1, -1, -1, d))
        sv = v.gather(2, position[..., None].expand(-1, -1, -1, e))
        chunks = self.n_hashes * self.n_buckets
        bq, bv = sq.view(B, H, chunks, -1, d), sv.view(B, H, chunks, -1, e)
        bk = torch.cat([bq, bq.roll(1, dims=2)], dim=3)  # look one back (cyclic)
        bv = torch.cat([bv, bv.roll(1, dims=2)], dim=3)
        dots = bq @ bk.transpose(-1, -2) * math.sqrt(d)
        if real is not None:
            key_real = real[:, None, :].expand(B, H, n).gather(2, position).view(B, H, chunks, -1)
            key_real = torch.cat([key_real, key_real.roll(1, dims=2)], dim=3)
            dots = dots.masked_fill(~key_real[:, :, :, None, :], float("-inf"))
        lse = dots.logsumexp(dim=-1, keepdim=True)
        out = (dots - lse).exp() @ bv
        out = out.view(B, H, -1, e).gather(2, undo[..., None].expand(-1, -1, -1, e))
        lse = lse.view(B, H, -1).gather(2, undo)
        out, lse = out.view(B, H, self.n_hashes, n, e), lse.view(B, H, self.n_hashes, n, 1)
        return (out * lse.softmax(dim=2)).sum(dim=2)[:, :, :N]
