"""Oracles for the six LRA Table 1 baselines that were missing (issue 22), written from the official LRA
code (google-research/long-range-arena, commit cd31e5c6b8e5bceabd28de2d2afb23f7ae5d36d8) as explicit
float64 loops or dense masked softmaxes. Nothing is imported from lra_bench.attention except the
registry entry points; a variant's learned or random state (Synthesizer's matrices, Reformer's
rotations, BigBird's seed) is read from the built module, never its code. Tolerance 1e-9 absolute."""

import math

import numpy as np
import pytest
import torch

from lra_bench.attention import attention_schema, build_attention

B, H, D = 2, 2, 8
ATOL = 1e-9
LRA = "google-research/long-range-arena@cd31e5c"


@pytest.fixture(autouse=True)
def _no_grad():
    with torch.no_grad():
        yield


def qkv(N, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(B, H, N, D, generator=g, dtype=torch.float64) for _ in range(3)]


def mask_of(lengths, N):
    return torch.arange(N)[None, :] < torch.tensor(lengths)[:, None]


def build(name, causal=False, max_len=64, **hyper):
    return build_attention(attention_schema(name)(name=name, **hyper), dim_head=D, num_heads=H, causal=causal,
                           max_len=max_len).double()


def masked_softmax(logits, allowed, v):
    """Dense reference: softmax of logits over allowed entries (numpy float64), times v."""
    logits = np.where(allowed, logits, -np.inf)
    top = logits.max(-1, keepdims=True)
    with np.errstate(invalid="ignore"):  # a row with nothing allowed (padding only) gives 0/0: never compared
        w = np.exp(logits - np.where(np.isfinite(top), top, 0.0))
        return (w / w.sum(-1, keepdims=True)) @ v


def dense_oracle(q, k, v, allowed_fn, mask):
    """Per (batch, head): softmax(q k^T / sqrt(d)) over keys with allowed_fn(b, h, i, j) and real."""
    q, k, v, mask = q.numpy(), k.numpy(), v.numpy(), mask.numpy()
    N = q.shape[2]
    out = np.zeros_like(q)
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            allowed = np.array([[allowed_fn(b, h, i, j) and mask[b, j] for j in range(N)] for i in range(N)])
            out[b, h] = masked_softmax(q[b, h] @ k[b, h].T / math.sqrt(D), allowed, v[b, h])
    return out


def at_real(x, mask):
    return np.where(mask.numpy()[:, None, :, None], np.asarray(x), 0.0)


def defaults(name):
    return {f: getattr(attention_schema(name)(name=name), f) for f in attention_schema(name).__dataclass_fields__
            if f != "name"}


# -- Sparse Transformer (sparse_attention.py _build_mask; train_utils.get_model: Fixed1(50) | Fixed2(50, c=10)) --

def test_sparse_transformer_defaults_are_lras():
    assert defaults("sparse_transformer") == {"block_size": 50, "summary": 10, "cls_token_global": False}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block, c, N", [(6, 2, 23), (50, 10, 130)])
def test_oracle_sparse_transformer_fixed_pattern(causal, block, c, N):
    """LRA's pattern is causal on every task: j <= i and (same block, or j mod block in {0} or >= block - c)."""
    q, k, v = qkv(N)
    mask = mask_of([N, N - 9], N)
    out = build("sparse_transformer", causal, max_len=N, block_size=block, summary=c)(q, k, v, mask)
    ref = dense_oracle(q, k, v, lambda b, h, i, j: j <= i and (i // block == j // block or j % block == 0
                                                                or j % block >= block - c), mask)
    assert np.abs(at_real(out, mask) - at_real(ref, mask)).max() < ATOL


def test_oracle_sparse_transformer_cls_token_is_global():
    """LRA `use_cls_token`: the fixed pattern on positions 1.., row and column 0 all allowed."""
    N, block, c = 23, 6, 2
    q, k, v = qkv(N)
    mask = mask_of([N, N], N)
    out = build("sparse_transformer", block_size=block, summary=c, cls_token_global=True)(q, k, v, mask)
    ref = dense_oracle(q, k, v, lambda b, h, i, j: i == 0 or j == 0 or (
        j <= i and ((i - 1) // block == (j - 1) // block or (j - 1) % block == 0 or (j - 1) % block >= block - c)),
        mask)
    assert np.abs(out.numpy() - ref).max() < ATOL


# -- Longformer (longformer_attention.py _build_sliding_window_mask; longformer.py: window 512, no global) --

def test_longformer_defaults_are_lras():
    assert defaults("longformer") == {"window_size": 512, "num_global_tokens": 0}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window, g", [(7, 0), (6, 0), (6, 2), (512, 0)])
def test_oracle_longformer_window_and_global(causal, window, g):
    """right = window // 2 keys after i, left = window - right keys up to and including i."""
    N = 23
    q, k, v = qkv(N)
    mask = mask_of([N, 15], N)
    out = build("longformer", causal, window_size=window, num_global_tokens=g)(q, k, v, mask)
    right, left = window // 2, window - window // 2

    def allowed(b, h, i, j):
        ok = (i - left < j <= i + right) or i < g or j < g
        return ok and (j <= i or not causal)
    ref = dense_oracle(q, k, v, allowed, mask)
    assert np.abs(at_real(out, mask) - at_real(ref, mask)).max() < ATOL


# -- Synthesizer (synthesizer_attention.py SynthesizerAttention.apply; synthesizer.py defaults) -------------

def test_synthesizer_defaults_are_lras():
    assert defaults("synthesizer_random") == {"dot_product": True}  # ignore_dot_product=False
    assert defaults("synthesizer_dense") == {"dot_product": True}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dot_product", [True, False])
def test_oracle_synthesizer_random(causal, dot_product):
    N = 23
    q, k, v = qkv(N)
    mask = mask_of([N, 15], N)
    module = build("synthesizer_random", causal, max_len=40, dot_product=dot_product)
    R = next(p for n, p in module.named_parameters()).detach().numpy()  # its one parameter, [H, L, L]
    assert R.shape == (H, 40, 40)
    out = module(q, k, v, mask)
    qn, kn, vn, m = q.numpy(), k.numpy(), v.numpy(), mask.numpy()
    ref = np.zeros_like(qn)
    for b in range(B):
        for h in range(H):
            logits = R[h, :N, :N] + (qn[b, h] @ kn[b, h].T / math.sqrt(D) if dot_product else 0)
            allowed = m[b][None, :] & (np.tri(N, dtype=bool) if causal else True)
            ref[b, h] = masked_softmax(logits, allowed, vn[b, h])
    assert np.abs(at_real(out, mask) - at_real(ref, mask)).max() < ATOL


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_synthesizer_dense(causal):
    """Row i of head h: W2 relu(W1_h q_i + b1_h) + b2, sliced to N, plus q.k / sqrt(d)."""
    N = 23
    q, k, v = qkv(N)
    mask = mask_of([N, 15], N)
    module = build("synthesizer_dense", causal, max_len=40)
    for p in module.parameters():  # LRA initialises the biases at 0: make them non-zero, so a dropped bias is seen
        if p.shape in ((H, 1, D), (40,)):
            p.normal_()
    params = [p.numpy() for p in module.parameters()]
    w1 = next(p for p in params if p.shape == (H, D, D))
    w2 = next(p for p in params if p.shape == (D, 40))
    b1 = next(p for p in params if p.shape == (H, 1, D)).reshape(H, D)
    b2 = next(p for p in params if p.shape == (40,))
    out = module(q, k, v, mask)
    qn, kn, vn, m = q.numpy(), k.numpy(), v.numpy(), mask.numpy()
    ref = np.zeros_like(qn)
    for b in range(B):
        for h in range(H):
            synth = np.stack([np.maximum(qn[b, h, i] @ w1[h] + b1[h], 0) @ w2[:, :N] + b2[:N] for i in range(N)])
            logits = synth + qn[b, h] @ kn[b, h].T / math.sqrt(D)
            allowed = m[b][None, :] & (np.tri(N, dtype=bool) if causal else True)
            ref[b, h] = masked_softmax(logits, allowed, vn[b, h])
    assert np.abs(at_real(out, mask) - at_real(ref, mask)).max() < ATOL


# -- BigBird (bigbird_attention.py get_block_rand_mask / band_start_block_rand_multi_attention_pad) --------

# LRA's random blocks, from running the official `get_block_rand_mask` (numpy only) after
# `onp.random.seed(seed)`, one call per head, as `sparse_dot_product_attention` does.
# seed 0, seq 48, block 4, r 2, 2 heads (rows: query blocks 1..10):
LRA_RAND_SEED0_48_4_2 = [
    [[9, 5], [5, 4], [10, 7], [9, 6], [3, 9], [8, 2], [1, 2], [3, 4], [1, 2], [4, 7]],
    [[5, 8], [8, 9], [9, 1], [6, 8], [2, 9], [2, 3], [1, 9], [10, 3], [4, 5], [7, 2]],
]
# seed 5, seq 1152 (> 1024: random blocks from the first 1024 tokens only), block 64, r 3, 1 head:
LRA_RAND_SEED5_1152_64_3 = [[8, 4, 10], [10, 12, 6], [12, 8, 7], [1, 9, 12], [1, 14, 10], [4, 8, 12],
                            [13, 4, 15], [2, 12, 15], [12, 1, 2], [15, 6, 3], [8, 9, 1], [7, 9, 6],
                            [5, 11, 6], [2, 5, 8], [5, 1, 10], [3, 5, 12]]


def test_bigbird_defaults_are_lras():
    assert defaults("bigbird") == {"block_size": 64, "num_rand_blocks": 3, "connectivity_seed": -1}


def bigbird_key_blocks(i, nb, rand_row):
    """Key blocks of query block i (LRA: first/last rows global; others window + globals + random)."""
    if i in (0, nb - 1):
        return set(range(nb))
    window = {1: {0, 1, 2}, nb - 2: {nb - 3, nb - 2, nb - 1}}.get(i, {i - 1, i, i + 1})
    return window | {0, nb - 1} | set(rand_row)


@pytest.mark.parametrize("N", [45, 44])  # 44: LRA still pads a whole block (48)
def test_oracle_bigbird_pattern_is_lras(N):
    block, nb = 4, 12
    q, k, v = qkv(N)
    mask = mask_of([N, 30], N)
    out = build("bigbird", block_size=block, num_rand_blocks=2, connectivity_seed=0)(q, k, v, mask)
    ref = dense_oracle(q, k, v, lambda b, h, i, j: j // block in bigbird_key_blocks(
        i // block, nb, LRA_RAND_SEED0_48_4_2[h][i // block - 1] if 0 < i // block < nb - 1 else []), mask)
    assert np.abs(at_real(out, mask) - at_real(ref, mask)).max() < ATOL


def test_oracle_bigbird_random_blocks_stay_in_the_first_1024_tokens():
    N, block, nb = 1100, 64, 18
    g = torch.Generator().manual_seed(0)
    q, k, v = [torch.randn(1, 1, N, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    module = build_attention(attention_schema("bigbird")(name="bigbird", connectivity_seed=5), dim_head=4,
                             num_heads=1, causal=False, max_len=N).double()
    out = module(q, k, v, None)
    rand = LRA_RAND_SEED5_1152_64_3
    blocks = np.arange(N) // block
    block_allowed = np.array([[bj in bigbird_key_blocks(bi, nb, rand[bi - 1] if 0 < bi < nb - 1 else [])
                               for bj in range(nb)] for bi in range(nb)])
    allowed = block_allowed[blocks][:, blocks]
    ref = masked_softmax(q[0, 0].numpy() @ k[0, 0].numpy().T / 2.0, allowed, v[0, 0].numpy())
    assert np.abs(out[0, 0].numpy() - ref).max() < ATOL


def test_oracle_bigbird_short_or_causal_is_softmax():
    """Fewer than r + 5 blocks (LRA's code cannot sample there) and LRA's causal path: full softmax."""
    N = 37
    q, k, v = qkv(N)
    mask = mask_of([N, 20], N)
    for causal in (False, True):
        out = build("bigbird", causal)(q, k, v, mask)
        ref = dense_oracle(q, k, v, lambda b, h, i, j: j <= i or not causal, mask)
        assert np.abs(at_real(out, mask) - at_real(ref, mask)).max() < ATOL


def test_bigbird_seed_comes_from_torch_rng():
    """connectivity_seed -1: one draw from torch's RNG at build (reproducible from the run's seed)."""
    outs = []
    q, k, v = qkv(45)
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        outs.append(build("bigbird", block_size=4, num_rand_blocks=2)(q, k, v, None))
    assert torch.equal(outs[0], outs[1]) and not torch.allclose(outs[0], outs[2])


# -- Reformer (reformer_attention.py hash_vectors / lsh_attention_single_head; apply defaults) ---------------

def test_reformer_defaults_are_lras():
    assert defaults("reformer") == {"chunk_len": 10, "n_hashes": 1, "n_buckets": 10, "hash_seed": 0,
                                    "mask_padding": False}


def reformer_oracle(q, v, rotations, chunk_len, n_hashes, n_buckets, real=None):
    """One sequence and head, numpy float64, from LRA's function: pad, hash, sort, chunk, look one back."""
    N, d = q.shape
    n = N + chunk_len - N % chunk_len
    q = np.vstack([q, np.zeros((n - N, d))])
    v = np.vstack([v, np.zeros((n - N, v.shape[1]))])
    real = np.ones(n, bool) if real is None else np.concatenate([real, np.zeros(n - N, bool)])
    slots = []  # (bucket with round offset, position, round)
    for r in range(n_hashes):
        for t in range(n):
            proj = q[t].astype(np.float32).astype(np.float64) @ rotations[:, r, :]
            bucket = int(np.argmax(np.concatenate([proj, -proj])))
            slots.append((bucket + r * n_buckets, t, r))
    slots.sort()
    chunks = n_hashes * n_buckets
    size = len(slots) // chunks
    out, lse = np.zeros((n_hashes, n, v.shape[1])), np.zeros((n_hashes, n))
    for c in range(chunks):
        keys = slots[c * size:(c + 1) * size] + slots[((c - 1) % chunks) * size:((c - 1) % chunks + 1) * size]
        key_pos = [t for _, t, _ in keys]
        for _, t, r in slots[c * size:(c + 1) * size]:
            logits = np.array([q[t] @ q[j] * math.sqrt(d) for j in key_pos])
            logits = np.where(real[key_pos], logits, -np.inf)
            top = logits.max()
            lse[r, t] = top + np.log(np.exp(logits - top).sum())
            out[r, t] = np.exp(logits - lse[r, t]) @ v[key_pos]
    weights = np.exp(lse - lse.max(0))
    weights /= weights.sum(0)
    return (out * weights[:, :, None]).sum(0)[:N]


@pytest.mark.parametrize("N, chunk_len, n_hashes, n_buckets", [(37, 10, 1, 10), (23, 4, 2, 4), (40, 10, 3, 2)])
def test_oracle_reformer_lsh(N, chunk_len, n_hashes, n_buckets):
    q, k, v = qkv(N, scale=0.5)
    module = build("reformer", chunk_len=chunk_len, n_hashes=n_hashes, n_buckets=n_buckets)
    rotations = next(b for b in module.buffers()).numpy()
    assert rotations.shape == (D, n_hashes, n_buckets // 2)
    out = module(q, k, v, None)
    for b in range(B):
        for h in range(H):
            ref = reformer_oracle(q[b, h].numpy(), v[b, h].numpy(), rotations, chunk_len, n_hashes, n_buckets)
            assert np.abs(out[b, h].numpy() - ref).max() < ATOL


def test_oracle_reformer_padding_as_lra_or_masked():
    N = 37
    q, k, v = qkv(N, scale=0.5)
    mask = mask_of([N, 21], N)
    for mask_padding in (False, True):
        module = build("reformer", mask_padding=mask_padding)
        rotations = next(b for b in module.buffers()).numpy()
        out = module(q, k, v, mask)
        ref = reformer_oracle(q[1, 0].numpy(), v[1, 0].numpy(), rotations, 10, 1, 10,
                              real=mask[1].numpy() if mask_padding else None)
        assert np.abs(out[1, 0, :21].numpy() - ref[:21]).max() < ATOL


def test_reformer_rotations_are_seeded():
    """LRA uses PRNGKey(0) in every call: ours are fixed by hash_seed, the same whatever torch's RNG."""
    torch.manual_seed(1)
    a = next(build("reformer").buffers())
    torch.manual_seed(2)
    b = next(build("reformer").buffers())
    c = next(build("reformer", hash_seed=1).buffers())
    assert torch.equal(a, b) and not torch.equal(a, c)


# -- Sinkhorn (sinkhorn_attention.py SinkhornAttention.apply, sort_activation='softmax') --------------------

def test_sinkhorn_defaults_are_lras():
    assert defaults("sinkhorn") == {"block_size": 50, "max_num_blocks": 25}


def sinkhorn_oracle(q, k, v, real, b):
    """One sequence and head: strided blocks (token s*nb + n in block n), local softmax + softmax over
    block-summed keys/values (LRA's einsum: sum over blocks at each slot, times sum_l P = 1); LRA's
    masks from consecutive blocks, -1e10 bias."""
    N, d = q.shape
    n_tok = N + (-N) % b
    pad = n_tok - N
    q, k, v = (np.vstack([t, np.zeros((pad, t.shape[1]))]) for t in (q, k, v))
    real = np.concatenate([real, np.zeros(pad, bool)])
    nb = n_tok // b
    cons = real.reshape(nb, b)  # consecutive blocks of the padding mask
    any_pair = np.array([[any(cons[m, s] and cons[m, j] for m in range(nb)) for j in range(b)] for s in range(b)])
    summed_k = np.stack([k[s * nb:(s + 1) * nb].sum(0) for s in range(b)])
    summed_v = np.stack([v[s * nb:(s + 1) * nb].sum(0) for s in range(b)])
    out = np.zeros((n_tok, v.shape[1]))
    for t in range(n_tok):
        s, n = t // nb, t % nb
        members = [j * nb + n for j in range(b)]
        local = q[t] @ k[members].T / math.sqrt(d) + np.where(cons[n, s] & cons[n], 0.0, -1e10)
        glob = q[t] @ summed_k.T / math.sqrt(d) + np.where(any_pair[s], 0.0, -1e10)
        for logits, values in ((local, v[members]), (glob, summed_v)):
            w = np.exp(logits - logits.max())
            out[t] += (w / w.sum()) @ values
    return out[:N]


@pytest.mark.parametrize("N, block", [(37, 5), (40, 8), (37, 50)])
def test_oracle_sinkhorn_as_lra_computes_it(N, block):
    q, k, v = qkv(N)
    mask = mask_of([N, 22], N)
    module = build("sinkhorn", block_size=block)
    with torch.no_grad():  # a sorting net far from zero: its output must still cancel (LRA's einsum)
        for p in module.parameters():
            p.normal_(0, 3)
    out = module(q, k, v, mask)
    for b in range(B):
        for h in range(H):
            ref = sinkhorn_oracle(q[b, h].numpy(), k[b, h].numpy(), v[b, h].numpy(), mask[b].numpy(), block)
            real = mask[b].numpy()
            assert np.abs(out[b, h].numpy()[real] - ref[real]).max() < ATOL


# == The five baselines we had, rechecked against the same commit (issue 22) =================================
# Each default is LRA's function; the options keep other behaviours, and `*_distance` tests pin how far
# each option is from the default on one fixed input (the numbers the variants' docstrings quote).

def fixed_input(N=23):
    """The docstrings' fixed input: qkv(23), seed 0, N(0, 1); batch 1 is padded after 14 tokens."""
    q, k, v = qkv(N)
    return q, k, v, mask_of([N, 14], N)


def max_real_diff(a, b, mask):
    return float(np.abs(at_real(a, mask) - at_real(b, mask)).max())


def linear_kernel_oracle(f, g, v, real, causal, eps):
    """o_i = f_i . sum_j g_j v_j^T / (f_i . sum_j g_j + eps) over keys j with real[j] (and j <= i)."""
    N = f.shape[0]
    out = np.zeros_like(v)
    for i in range(N):
        js = [j for j in range(N) if real[j] and (j <= i or not causal)]
        w = f[i] @ g[js].T
        out[i] = (w @ v[js]) / (w.sum() + eps)
    return out


def per_head(fn, *tensors):
    arrays = [t.numpy() for t in tensors]
    return np.stack([np.stack([fn(b, h, *[a[b, h] if a.ndim == 4 else a[b] for a in arrays]) for h in range(H)])
                     for b in range(B)])


# -- Linear (linear_attention.py elu_feature_map / linear_attention: eps 1e-6, LinearAttention.apply: no mask) --

def test_linear_defaults_are_lras():
    assert defaults("linear")["eps"] == 1e-6 and defaults("linear")["mask_padding"] is False


@pytest.mark.parametrize("mask_padding", [False, True])
def test_oracle_linear_lra_ignores_padding(mask_padding):
    q, k, v, mask = fixed_input()
    out = build("linear", mask_padding=mask_padding)(q, k, v, mask)
    phi = lambda x: np.where(x > 0, x + 1.0, np.exp(x))  # noqa: E731  elu(x) + 1
    keys = mask if mask_padding else torch.ones_like(mask)
    ref = per_head(lambda b, h, q, k, v, real: linear_kernel_oracle(phi(q), phi(k), v, real, False, 1e-6), q, k, v, keys)
    assert max_real_diff(out, ref, mask) < ATOL


def test_linear_mask_padding_distance():
    q, k, v, mask = fixed_input()
    diff = max_real_diff(build("linear")(q, k, v, mask), build("linear", mask_padding=True)(q, k, v, mask), mask)
    assert abs(diff - 0.338) < 0.001, diff


# -- Performer (performer.py _DEFAULT_ATTENTION_FN_CLS = 'generalized'; performer_attention.py) ---------------
PERFORMER_KERNEL_EPSILON = 0.001  # make_fast_generalized_attention(kernel_epsilon=0.001, numerical_stabilizer=0.0)
FAVOR_STABILIZER = 1e-6  # make_fast_softmax_attention(numerical_stabilizer=0.000001), passed as the features' eps


def test_performer_defaults_are_lras():
    d = defaults("performer")
    assert d["attention_fn"] == "generalized" and d["mask_padding"] is False and d["redraw_features"] is False


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask_padding", [False, True])
def test_oracle_performer_generalized_relu_kernel(causal, mask_padding):
    """features_type='deterministic' (no projection), normalize_data=False: phi(x) = relu(x) + 0.001."""
    q, k, v, mask = fixed_input()
    out = build("performer", causal, mask_padding=mask_padding)(q, k, v, mask)
    phi = lambda x: np.maximum(x, 0.0) + PERFORMER_KERNEL_EPSILON  # noqa: E731
    keys = mask if mask_padding else torch.ones_like(mask)
    ref = per_head(lambda b, h, q, k, v, real: linear_kernel_oracle(phi(q), phi(k), v, real, causal, 0.0), q, k, v, keys)
    assert max_real_diff(out, ref, mask) < ATOL


def favor_oracle(q, k, v, w, real, mask_padding):
    """nonnegative_softmax_kernel_feature_creator + the bidirectional renormalised FastAttention, one head."""
    d, m = q.shape[-1], w.shape[0]
    c, ratio = d ** -0.25, m ** -0.5
    dq, dk = (c * q) @ w.T, (c * k) @ w.T
    diag_q, diag_k = (q * q).sum(-1, keepdims=True) / 2 * c * c, (k * k).sum(-1, keepdims=True) / 2 * c * c
    f = ratio * (np.exp(dq - diag_q - dq.max(-1, keepdims=True)) + FAVOR_STABILIZER)
    keys = real if mask_padding else np.ones_like(real)
    g = ratio * (np.exp(dk - diag_k - dk[keys].max()) + FAVOR_STABILIZER) * keys[:, None]
    R = f @ g.sum(0)
    R = R + 2 * FAVOR_STABILIZER * (np.abs(R) <= FAVOR_STABILIZER)
    return (f @ (g.T @ v)) / R[:, None]


@pytest.mark.parametrize("mask_padding", [False, True])
@pytest.mark.parametrize("m", [2, 12])
def test_oracle_performer_favor_as_lra(mask_padding, m):
    q, k, v, mask = fixed_input()
    module = build("performer", attention_fn="softmax", num_features=m, mask_padding=mask_padding)
    w = module.w.numpy()
    rows = w / np.linalg.norm(w, axis=1, keepdims=True)  # orthogonal within each block of d rows
    for start in range(0, m, D):
        block = rows[start:start + D]
        assert np.abs(block @ block.T - np.eye(len(block))).max() < 1e-6
    ref = per_head(lambda b, h, q, k, v, real: favor_oracle(q, k, v, w, real, mask_padding), q, k, v, mask)
    assert max_real_diff(module(q, k, v, mask), ref, mask) < ATOL


def test_oracle_performer_redraw_is_a_function_of_the_query():
    """redraw_features: a new draw per call, seeded by ceil(sum(query) * 1e7) (LRA's rule)."""
    q, k, v, mask = fixed_input()
    module = build("performer", attention_fn="softmax", num_features=2, redraw_features=True)
    a, b = module(q, k, v, mask), module(q, k, v, mask)
    assert torch.equal(a, b)
    q2 = q.clone()
    q2[0, 0, 0, 0] += 1e-3
    assert (module(q2, k, v, mask)[1] - a[1]).abs().max() > 1e-6  # sequence 1 unchanged, yet its features moved


def test_performer_option_distances():
    q, k, v, mask = fixed_input()
    torch.manual_seed(0)
    default = build("performer")(q, k, v, mask)
    diffs = {"mask_padding": max_real_diff(default, build("performer", mask_padding=True)(q, k, v, mask), mask)}
    torch.manual_seed(0)
    diffs["favor256"] = max_real_diff(default, build("performer", attention_fn="softmax")(q, k, v, mask), mask)
    for name, expected in {"mask_padding": 0.629, "favor256": 1.085}.items():
        assert abs(diffs[name] - expected) < 0.001, diffs


# -- Linformer (linformer_attention.py LinformerAttention.apply: one shared lr_kernel, k = 16, bias=None) ----

def test_linformer_defaults_are_lras():
    d = defaults("linformer")
    assert d["proj_len"] == 16 and d["share_kv"] is True and d["mask_padding"] is False


def test_oracle_linformer_shared_projection_as_lra():
    q, k, v, mask = fixed_input()
    module = build("linformer")
    assert module.F is None  # one kernel for keys and values
    E = module.E.detach().numpy()  # [k, max_len]: LRA's lr_kernel [max_len, k] transposed
    bound = math.sqrt(6 / (64 + 16))  # xavier_uniform on (max_len=64, k=16): U(-sqrt(6 / (fan_in + fan_out)), .)
    assert np.abs(E).max() <= bound and abs(E.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)

    def head(b, h, q, k, v, real):
        kp, vp = E[:, :23] @ k, E[:, :23] @ v  # padded keys projected with the rest (no mask in LRA)
        return masked_softmax(q @ kp.T / math.sqrt(D), np.ones((23, 16), dtype=bool), vp)

    assert max_real_diff(module(q, k, v, mask), per_head(head, q, k, v, mask), mask) < ATOL


def test_oracle_linformer_unshared_masked_option():
    q, k, v, mask = fixed_input()
    module = build("linformer", share_kv=False, mask_padding=True, proj_len=8)
    E, F = module.E.detach().numpy(), module.F.detach().numpy()

    def head(b, h, q, k, v, real):
        kp, vp = E[:, :23] @ (k * real[:, None]), F[:, :23] @ (v * real[:, None])
        return masked_softmax(q @ kp.T / math.sqrt(D), np.ones((23, 8), dtype=bool), vp)

    assert max_real_diff(module(q, k, v, mask), per_head(head, q, k, v, mask), mask) < ATOL


def test_linformer_option_distances():
    q, k, v, mask = fixed_input()
    torch.manual_seed(0)
    default = build("linformer")
    diffs = {}
    for name, hyper in {"mask_padding": dict(mask_padding=True), "share_kv_false": dict(share_kv=False),
                        "k256_unshared_masked": dict(proj_len=256, share_kv=False, mask_padding=True)}.items():
        torch.manual_seed(0)  # the same E draw as the default where the shapes agree
        diffs[name] = max_real_diff(default(q, k, v, mask), build("linformer", **hyper)(q, k, v, mask), mask)
    for name, expected in {"mask_padding": 0.681, "share_kv_false": 1.160, "k256_unshared_masked": 1.090}.items():
        assert abs(diffs[name] - expected) < 0.001, diffs


# -- Local (local_attention.py LocalAttention.apply: strided groups, consecutive padding mask; local.py: 50) --

def test_local_defaults_are_lras():
    assert defaults("local")["block_size"] == 50 and defaults("local")["pattern"] == "strided"


def local_lra_oracle(q, k, v, real, b):
    """LocalAttention.apply, one head: pad to a multiple of b (a whole block if b | N), reshape to
    (b, G) so slot a of group g is position a*G + g, mask group g by consecutive block g of the mask."""
    N, d = q.shape
    fill = b - N % b
    n = N + fill
    G = n // b
    pad = lambda x: np.concatenate([x, np.zeros((fill, x.shape[1]))])  # noqa: E731  q = k = v = 0 (no bias)
    q, k, v = pad(q), pad(k), pad(v)
    realp = np.concatenate([real, np.ones(fill, dtype=bool)])  # jnp.pad(bool, -1e9) is True
    out = np.zeros_like(v)
    for g in range(G):
        pos = [a * G + g for a in range(b)]
        block = realp[g * b:(g + 1) * b]
        bias = np.where(block[:, None] & block[None, :], 0.0, -1e10)
        logits = q[pos] @ k[pos].T / math.sqrt(d) + bias
        w = np.exp(logits - logits.max(-1, keepdims=True))
        out[pos] = (w / w.sum(-1, keepdims=True)) @ v[pos]
    return out[:N]


@pytest.mark.parametrize("N, block", [(23, 6), (24, 6), (23, 50), (130, 50)])
def test_oracle_local_strided_as_lra(N, block):
    q, k, v = qkv(N)
    mask = mask_of([N, 14], N)
    out = build("local", block_size=block, max_len=256)(q, k, v, mask)
    ref = per_head(lambda b, h, q, k, v, real: local_lra_oracle(q, k, v, real, block), q, k, v, mask)
    assert max_real_diff(out, ref, mask) < ATOL
    out_unmasked = build("local", block_size=block, max_len=256)(q, k, v, None)
    ref = per_head(lambda b, h, q, k, v, real: local_lra_oracle(q, k, v, np.ones(N, dtype=bool), block), q, k, v, mask)
    assert np.abs(out_unmasked.numpy() - ref).max() < ATOL


def test_local_option_distances():
    q, k, v, mask = fixed_input()
    diff = max_real_diff(build("local", block_size=6)(q, k, v, mask),
                         build("local", block_size=6, pattern="consecutive")(q, k, v, mask), mask)
    assert abs(diff - 2.377) < 0.001, diff
