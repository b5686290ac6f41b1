"""BigBird (Zaheer et al., NeurIPS 2020, arXiv 2007.14062): block window + global + random blocks, as LRA ran it.

Source: google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8,
`lra_benchmarks/models/bigbird/bigbird_attention.py`: `get_block_rand_mask` (random blocks),
`band_start_block_rand_multi_attention_pad` (which blocks each query block sees),
`sparse_dot_product_attention` and `BigBirdAttention.apply`. Defaults: `block_size=64`,
`num_rand_blocks=3` (`BigBirdAttention.apply`; `_DEFAULT_BLOCK_SIZE = 64` in `bigbird.py`;
the Image and Pathfinder configs `image/configs/*/bigbird_base.py` set `config.model.block_size = 64`,
ListOps/Text/Retrieval configs set nothing else).

The function, blocks of b tokens, nb blocks after padding:
- LRA pads the sequence by b - (N mod b) fill tokens (a whole block when b divides N), masked as keys.
- Query blocks 0 and nb-1 are global: they attend to every key. Every query block attends to key
  blocks 0 and nb-1.
- Query block i in 1..nb-2 also attends to blocks i-1, i, i+1 (block 1: 0, 1, 2; block nb-2: nb-3,
  nb-2, nb-1) and to r random blocks drawn per head by LRA's rule (never a window or global block;
  when N > 1024 only from the first 1024 tokens, `last_idx=min(seq_length, 1024)`).
- One softmax with 1/sqrt(d) over the union (no key is listed twice, so the blocked form equals a
  dense softmax with this mask); padded keys masked.
- Causal: LRA's `causal_mask=True` falls back to full attention with a causal mask; so does ours.

Randomness: LRA seeds NumPy's global RandomState with `connectivity_seed` (the layer index, from
`bigbird.py`) and draws each head's blocks in order with `permutation`. Ours draws the same way from
`numpy.random.RandomState(connectivity_seed)`; with `connectivity_seed: -1` (default) the seed is drawn
once at construction from torch's global RNG (so the run's seed fixes it and layers differ, as LRA's
do) and stored as a buffer (a checkpoint keeps its pattern). A fixed seed gives LRA's exact pattern
(seed = layer index).

Departures: (1) computed as a dense masked softmax (same weights; O(N^2) memory, unlike LRA's blocked
kernel: the bench's memory ratio is not BigBird's). (2) LRA's code fails when a row has fewer than r
candidate random blocks (nb < r + 5 blocks); there we use full attention, as HuggingFace's BigBird
does for short inputs. (3) The pattern depends on the padded length: not padding-invariant, as LRA.
"""

import numpy as np
import torch

from .pattern_softmax import pattern_softmax
from .registry import Attention, register_attention

RANDOM_BLOCKS_WITHIN = 1024  # LRA: last_idx=min(seq_length, 1024)


def random_blocks(num_blocks: int, r: int, rng: np.random.RandomState, last_idx: int, block: int) -> np.ndarray:
    """[num_blocks - 2, r] random key blocks for query blocks 1..num_blocks-2 (LRA's sampling rule)."""
    candidates = np.arange(1, num_blocks - 1)
    last = last_idx // block - 1 if last_idx > 2 * block else num_blocks - 1
    out = np.zeros((num_blocks - 2, r), dtype=np.int64)
    for i in range(1, num_blocks - 1):
        start, end = i - 2, i
        if i == 1:
            pool = candidates[2:last]
        elif i == 2:
            pool = candidates[3:last]
        elif i == num_blocks - 3:
            pool = candidates[:last - 4]
        elif i == num_blocks - 2:
            pool = candidates[:last - 3]
        elif start > last:
            pool = candidates[:last]
        elif end + 1 == last:
            pool = candidates[:start]
        else:
            pool = np.concatenate((candidates[:start], candidates[end + 1:last]))
        out[i - 1] = rng.permutation(pool)[:r]
    return out


def bigbird_pattern(padded_len: int, block: int, r: int, num_heads: int, seed: int) -> torch.Tensor:
    """[H, padded_len, padded_len] bool: which keys each query sees."""
    nb = padded_len // block
    rng = np.random.RandomState(seed)
    allowed = np.zeros((num_heads, nb, nb), dtype=bool)
    allowed[:, [0, -1], :] = True
    allowed[:, :, [0, -1]] = True
    for h in range(num_heads):
        chosen = random_blocks(nb, r, rng, min(padded_len, RANDOM_BLOCKS_WITHIN), block)
        for i in range(1, nb - 1):
            allowed[h, i, [i - 1, i, i + 1]] = True
            allowed[h, i, chosen[i - 1]] = True
    blocks = torch.from_numpy(allowed)
    return blocks.repeat_interleave(block, 1).repeat_interleave(block, 2)


@register_attention("bigbird")
class BigBirdAttention(Attention):
    padding_invariant = False

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, block_size: int = 64,
                 num_rand_blocks: int = 3, connectivity_seed: int = -1):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.block_size, self.num_rand_blocks = block_size, num_rand_blocks
        seed = int(torch.randint(0, 2**31 - 1, ())) if connectivity_seed < 0 else connectivity_seed
        self.register_buffer("connectivity_seed", torch.tensor(seed))
        self._patterns: dict = {}

    def pattern(self, n: int, device) -> torch.Tensor | None:
        """The [H, n, n] mask for a sequence of n tokens (None: full attention), cached per length."""
        padded = n + self.block_size - n % self.block_size
        if padded // self.block_size < self.num_rand_blocks + 5:
            return None
        key = (n, device, int(self.connectivity_seed))
        if key not in self._patterns:
            full = bigbird_pattern(padded, self.block_size, self.num_rand_blocks, self.num_heads, key[2])
            self._patterns[key] = full[:, :n, :n].to(device)
        return self._patterns[key]

    def forward(self, q, k, v, key_padding_mask=None):
        n = q.shape[2]
        if self.causal:
            allowed = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        else:
            allowed = self.pattern(n, q.device)
            if allowed is None:
                allowed = torch.ones(n, n, dtype=torch.bool, device=q.device)
        return pattern_softmax(q, k, v, allowed, key_padding_mask)
