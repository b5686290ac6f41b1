"""Oracles for the seed variants and baselines (spec/attention.md), written independently of the fast
code from the authors' code or the paper: explicit quadratic or step-by-step forms in float64 on small
sizes. Tolerance 1e-9 absolute unless a test says otherwise.

Rules (enforced by tests/test_oracle_rules.py): this file imports nothing from `lra_bench.attention`
but the registry entry points `build_attention` and `attention_schema`, every constant is hard-coded
here with its source, and every registered variant has a `test_oracle_<name>_...` test."""

import math

import pytest
import torch

from lra_bench.attention import attention_schema, build_attention
from lra_bench.errors import ConfigError

B, H, D = 2, 2, 8
ATOL = 1e-9


def qkv(N=23, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(B, H, N, D, generator=g, dtype=torch.float64) for _ in range(3)]


def mask_of(lengths, N):
    return torch.arange(N)[None, :] < torch.tensor(lengths)[:, None]


def build(name, causal=False, max_len=64, dim_head=D, num_heads=H, **hyper):
    module = build_attention(attention_schema(name)(name=name, **hyper), dim_head=dim_head, num_heads=num_heads,
                             causal=causal, max_len=max_len)
    return module.double().eval()


def normalise(A, v, eps=0.0, clamp=False):
    den = A.sum(-1, keepdim=True)
    den = den.clamp_min(eps) if clamp else den + eps
    return (A @ v) / den


def support(mask, N, causal):
    allowed = mask[:, None, None, :].expand(B, 1, N, N)
    return allowed & torch.ones(N, N, dtype=torch.bool).tril() if causal else allowed


def softmax_oracle(q, k, v, mask, causal):
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return s.masked_fill(~support(mask, q.shape[2], causal), float("-inf")).softmax(-1) @ v


def real(x, mask):
    """Outputs at real positions only (the oracle's padded rows may be NaN: nothing to attend to)."""
    return torch.where(mask[:, None, :, None], x, torch.zeros((), dtype=x.dtype))


# -- softmax and linear ---------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("lengths", [(23, 23), (23, 14)])  # without a mask (SDPA's is_causal path) and with one
def test_oracle_softmax_explicit(causal, lengths):
    q, k, v = qkv()
    mask = mask_of(list(lengths), 23)
    out = build("softmax", causal)(q, k, v, None if lengths == (23, 23) else mask)
    torch.testing.assert_close(real(out, mask), real(softmax_oracle(q, k, v, mask, causal), mask), atol=ATOL, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_linear_explicit(causal):
    """Katharopoulos et al. 2020: phi = elu + 1, eps 1e-6 added to the denominator (their
    idiap/fast-transformers `LinearAttention`, eps=1e-6), padded keys excluded (`mask_padding`; the
    default, LRA's unmasked function, is in tests/test_oracles_lra_baselines.py)."""
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    phi = lambda x: torch.nn.functional.elu(x) + 1  # noqa: E731
    A = (phi(q) @ phi(k).transpose(-1, -2)) * support(mask, 23, causal)
    out = build("linear", causal, mask_padding=True)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(normalise(A, v, eps=1e-6), mask), atol=ATOL, rtol=0)


# -- cosFormer ------------------------------------------------------------------------------------

def cosformer_oracle(q, k, v, mask, causal, Ms):
    """Explicit s(i, j) = relu(q_i) . relu(k_j) cos(pi/2 (i - j) / M), masked, row sum clamped at 1e-6
    (OpenNLPLab/cosFormer `cosformer.py`: `eps=1e-6`, `torch.clamp_min(denom, eps)`); M per sample."""
    N = q.shape[2]
    ref = torch.zeros_like(v)
    for b, M in enumerate(Ms):
        i = torch.arange(1, N + 1, dtype=torch.float64)
        weight = torch.cos(math.pi / 2 * (i[:, None] - i[None, :]) / M)
        A = (q[b].relu() @ k[b].relu().transpose(-1, -2)) * weight * support(mask, N, causal)[b]
        ref[b] = normalise(A, v[b], eps=1e-6, clamp=True)
    return ref


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_cosformer_explicit(causal):
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    out = build("cosformer", causal)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(cosformer_oracle(q, k, v, mask, causal, [23, 14]), mask),
                               atol=ATOL, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_cosformer_padded_length_option_is_the_authors_m(causal):
    """The authors' M is the padded tensor length (max of source and target length) for every sample."""
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    out = build("cosformer", causal, m_from_padded_length=True)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(cosformer_oracle(q, k, v, mask, causal, [23, 23]), mask),
                               atol=ATOL, rtol=0)


@pytest.mark.parametrize("chunk", [1, 5, 16, 23])
def test_oracle_cosformer_causal_chunks_agree(chunk):
    q, k, v = qkv()
    full = build("cosformer", True, chunk_size=64)(q, k, v, None)
    torch.testing.assert_close(build("cosformer", True, chunk_size=chunk)(q, k, v, None), full, atol=ATOL, rtol=0)


# -- LLN ------------------------------------------------------------------------------------------
# ynahshan/linear-lognormal-attention at 92505b9a19a0385764f1dabc4c27c0a8161d01c0, lln/lln_attention.py,
# LLNAttention.forward: the fitted a, b; eps 1e-5 as lln/lln_transformer.py line 69 runs it.
LLN_FIT_A = 0.14855178144710912
LLN_FIT_B = -0.35487039130661086
LLN_EPS = 1e-5


def lln_std(x, mask, pooling):
    """Unbiased std of x [B, H, N, d] over what `pooling` names, per (b, h); pads excluded except in
    `batch_with_padding` (the authors' `x.std()` on the padded tensor)."""
    B_, H_ = x.shape[:2]
    out = torch.empty(B_, H_, dtype=x.dtype)
    for b in range(B_):
        for h in range(H_):
            if pooling == "batch_with_padding":
                out[b, h] = x.std()
            elif pooling == "batch":
                out[b, h] = x.permute(0, 2, 1, 3)[mask].std()
            elif pooling == "sequence":
                out[b, h] = x[b][:, mask[b]].std()
            else:  # sequence_head
                out[b, h] = x[b, h][mask[b]].std()
    return out


def lln_oracle(q, k, v, mask, causal, pooling="batch", eps=LLN_EPS, sigma=None):
    """The authors' LLNAttention in float64: moment-matched alpha, beta, f = exp(alpha q), g = exp(beta k)
    (their max shifts cancel in the ratio; they shift k by its per-(b, h) max before eps is added, so we
    do too), explicit matrix, eps added to the row sum. `sigma`: pass (sigma_q, sigma_k) directly."""
    sq, sk = sigma if sigma is not None else (lln_std(q, mask, pooling), lln_std(k, mask, pooling))
    sq, sk = torch.as_tensor(sq, dtype=q.dtype), torch.as_tensor(sk, dtype=q.dtype)
    sigma_tilde = ((sq**2 * sk**2 - LLN_FIT_B) / (2 * LLN_FIT_A)).sqrt()
    alpha, beta = (sigma_tilde / sq)[..., None, None], (sigma_tilde / sk)[..., None, None]
    bk = (beta * k).masked_fill(~mask[:, None, :, None], float("-inf"))
    K = torch.exp(bk - bk.amax(dim=(2, 3), keepdim=True))
    A = torch.exp(alpha * q) / torch.exp(alpha * q).amax(-1, keepdim=True) @ K.transpose(-1, -2)
    if causal:
        A = A.tril()
    return (A @ v) / (A.sum(-1, keepdim=True) + eps)


def block_softmax_oracle(q, k, v, mask, causal, block):
    N = q.shape[2]
    blocks = torch.arange(N) // block
    allowed = support(mask, N, causal) & (blocks[:, None] == blocks[None, :])
    s = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).masked_fill(~allowed, float("-inf"))
    return s.softmax(-1) @ v


def heads_of_scales(N=23, scales=(0.5, 2.0), seed=0):
    """q, k of heads with different std (the case where pooling choices differ most), B = 2."""
    g = torch.Generator().manual_seed(seed)
    s = torch.tensor(scales, dtype=torch.float64)[None, :, None, None]
    q, k, v = (torch.randn(B, len(scales), N, D, generator=g, dtype=torch.float64) for _ in range(3))
    return q * s, k * s, v


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("lengths", [(23, 23), (23, 14)])
def test_oracle_lln_default_is_the_authors_function(causal, lengths):
    """Default = the authors' statistic: one std over every real token of the batch (unpadded: their
    `q.std()`), eps 1e-5; to 1e-12 in float64 with heads of different scales."""
    q, k, v = heads_of_scales()
    mask = mask_of(list(lengths), 23)
    out = build("lln", causal)(q, k, v, None if lengths == (23, 23) else mask)
    torch.testing.assert_close(real(out, mask), real(lln_oracle(q, k, v, mask, causal), mask), atol=1e-12, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("pooling", ["batch_with_padding", "sequence", "sequence_head"])
def test_oracle_lln_statistics_options_pool_what_they_name(causal, pooling):
    q, k, v = heads_of_scales()
    mask = mask_of([23, 14], 23)
    out = build("lln", causal, lln_stats=pooling)(q, k, v, mask)
    ref = lln_oracle(q, k, v, mask, causal, pooling)
    torch.testing.assert_close(real(out, mask), real(ref, mask), atol=1e-12, rtol=0)
    default = lln_oracle(q, k, v, mask, causal)  # each option is a different function from the default
    assert (real(out, mask) - real(default, mask)).abs().max() > 1e-4


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_lln_closed_form_scales_for_known_std(causal):
    """Inputs rescaled to batch std exactly 1.3 and 0.7: alpha, beta from the closed form (no statistic)."""
    q, k, v = qkv()
    q, k = q / q.std() * 1.3, k / k.std() * 0.7
    mask = mask_of([23, 23], 23)
    out = build("lln", causal, eps=0.0)(q, k, v, None)
    torch.testing.assert_close(out, lln_oracle(q, k, v, mask, causal, eps=0.0, sigma=(1.3, 0.7)), atol=ATOL, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("N", [16, 21])  # N mod d == 0 and != 0
def test_oracle_lln_diag_is_the_mean_of_lln_and_block_diagonal_softmax(causal, N):
    """The authors' LLNPlusDiagAttention, mode 'average': (o_LLN + o_diag) / 2, diagonal blocks of d tokens."""
    q, k, v = heads_of_scales(N=N)
    mask = mask_of([N, N - 5], N)
    out = build("lln_diag", causal)(q, k, v, mask)
    ref = (lln_oracle(q, k, v, mask, causal) + block_softmax_oracle(q, k, v, mask, causal, D)) / 2
    torch.testing.assert_close(real(out, mask), real(ref, mask), atol=1e-12, rtol=0)


def test_oracle_lln_rejects_the_renamed_statistics():
    with pytest.raises(ConfigError, match="'masked' was renamed 'sequence_head'"):
        build("lln", lln_stats="masked")


def test_oracle_lln_log_variance_near_softmax_on_gaussian_inputs():
    """LLN's claim: the log-attention variance matches softmax's. Calibrated here on N(0,1) q, k, d=64:
    we record the two variances and require them within a factor 2 (loose, a statistical check)."""
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(1, 1, 256, 64, generator=g, dtype=torch.float64) for _ in range(2))
    eye_v = torch.eye(256, dtype=torch.float64)[None, None]
    lln = build("lln", dim_head=64)(q, k, eye_v, None)  # V = identity recovers the attention matrix
    soft = (q @ k.transpose(-1, -2) / 8).softmax(-1)
    var_lln, var_soft = lln.log().var().item(), soft.log().var().item()
    assert 0.5 < var_lln / var_soft < 2.0, (var_lln, var_soft)


# -- Latte ----------------------------------------------------------------------------------------

def latte_explicit(q, k, v, mask, causal):
    p_l = q.softmax(-1)  # [B, H, N, L]
    N = q.shape[2]
    allowed = support(mask, N, causal)  # [B, 1, t, s]
    e = torch.exp(k)  # [B, H, s, L]
    weights = e[:, :, None, :, :] * allowed[..., None]  # [B, H, t, s, L]
    p_s = weights / weights.sum(3, keepdim=True)
    A = torch.einsum("bhtl,bhtsl->bhts", p_l, p_s)
    return A, A @ v


def latte_scan(q, k, v):
    """Step-by-step recurrence with a running max per latent (the authors' stable scan)."""
    p_l = q.softmax(-1)
    m = torch.full(k.shape[:2] + k.shape[3:], float("-inf"), dtype=k.dtype)
    S = torch.zeros(*k.shape[:2], k.shape[3], v.shape[3], dtype=k.dtype)
    Z = torch.zeros(*k.shape[:2], k.shape[3], dtype=k.dtype)
    out = []
    for t in range(k.shape[2]):
        m_new = torch.maximum(m, k[:, :, t])
        S = S * torch.exp(m - m_new)[..., None] + torch.exp(k[:, :, t] - m_new)[..., None] * v[:, :, t, None, :]
        Z = Z * torch.exp(m - m_new) + torch.exp(k[:, :, t] - m_new)
        m = m_new
        out.append(torch.einsum("bhl,bhld->bhd", p_l[:, :, t], S / Z[..., None]))
    return torch.stack(out, 2)


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_latte_explicit(causal):
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    A, ref = latte_explicit(q, k, v, mask, causal)
    rows = A.sum(-1)[:, :, :14]
    torch.testing.assert_close(rows, torch.ones_like(rows), atol=ATOL, rtol=0)
    out = build("latte", causal)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(ref, mask), atol=ATOL, rtol=0)


@pytest.mark.parametrize("scale", [1.0, 50.0])
@pytest.mark.parametrize("chunk", [1, 5, 16, 23])
def test_oracle_latte_causal_chunked_equals_scan(chunk, scale):
    q, k, v = qkv()
    k = k / k.abs().amax() * scale  # key logits up to magnitude `scale`
    out = build("latte", True, chunk_size=chunk)(q, k, v, None)
    torch.testing.assert_close(out, latte_scan(q, k, v), atol=ATOL, rtol=0)
    if scale == 1.0:
        torch.testing.assert_close(out, latte_explicit(q, k, v, mask_of([23, 23], 23), True)[1], atol=ATOL, rtol=0)


def test_oracle_latte_causal_training_drops_out_the_latent_probabilities():
    """The authors' StableScanLatte applies Q_drop (rate 0.2, their class default) to p(l|t) in training;
    the non-causal form (their BidLatte) has none."""
    q, k, v = qkv()
    module = build("latte", True).train()
    torch.manual_seed(0)
    out = module(q, k, v, None)
    torch.manual_seed(0)
    keep = torch.nn.functional.dropout(torch.ones_like(q), 0.2, True)  # the same draw: scale 1/0.8 or 0
    p_l = q.softmax(-1) * keep
    e = torch.exp(k)[:, :, None] * torch.ones(23, 23, dtype=torch.float64).tril()[..., None]  # [B, H, t, s, L]
    A = torch.einsum("bhtl,bhtsl->bhts", p_l, e / e.sum(3, keepdim=True))
    torch.testing.assert_close(out, A @ v, atol=ATOL, rtol=0)
    full = build("latte", False)
    torch.testing.assert_close(full.train()(q, k, v, None), full.eval()(q, k, v, None), atol=0, rtol=0)


def test_oracle_latte_last_causal_output_equals_noncausal():
    q, k, v = qkv()
    causal = build("latte", True)(q, k, v, None)
    full = build("latte", False)(q, k, v, None)
    torch.testing.assert_close(causal[:, :, -1], full[:, :, -1], atol=ATOL, rtol=0)


def test_oracle_latte_one_latent_ignores_the_query():
    q, k, v = qkv()
    module = build("latte", num_latents=H)  # one latent per head
    out = module(q, k, v, None)
    out2 = module(torch.randn_like(q), k, v, None)
    torch.testing.assert_close(out, out2, atol=ATOL, rtol=0)


# -- Combiner -------------------------------------------------------------------------------------

def add_joint_softmax(A, index, direct, direct_logits, regions):
    """Row `index` = (b, h, i) of A from Combiner's factorisation (paper Eq. 9): one softmax over the
    direct logits and one logit per region; a region spreads its share over its tokens by its own
    softmax. `regions`: [(region logit, tokens, within-region logits)]."""
    logits = direct_logits + [logit for logit, _, _ in regions]
    if not logits:
        return
    p = torch.stack(logits).softmax(0)
    for n, j in enumerate(direct):
        A[(*index, j)] += p[n]
    for n, (_, tokens, inner_logits) in enumerate(regions):
        inner = torch.stack(inner_logits).softmax(0)
        for t, j in enumerate(tokens):
            A[(*index, j)] += p[len(direct) + n] * inner[t]


def combiner_dense(q, k, v, mask, causal, s):
    """p(j|i) of Combiner-Fixed built entry by entry from the factorisation (paper Sec. 3.2, Eq. 9-10)."""
    N, scale = q.shape[2], 1 / math.sqrt(q.shape[-1])
    A = torch.zeros(B, H, N, N, dtype=q.dtype)
    for b in range(B):
        for h in range(H):
            blocks = [list(range(r, min(r + s, N))) for r in range(0, N, s)]
            blocks = [[j for j in blk if mask[b, j]] for blk in blocks]
            for i in range(N):
                own = i // s
                direct = [j for j in blocks[own] if (not causal or j <= i)]
                regions = [(q[b, h, i] @ k[b, h, blk].amax(0) * scale, blk,
                            [q[b, h, blk].amax(0) @ k[b, h, j] * scale for j in blk])
                           for r, blk in enumerate(blocks) if blk and r != own and (not causal or r < own)]
                add_joint_softmax(A, (b, h, i), direct, [q[b, h, i] @ k[b, h, j] * scale for j in direct], regions)
    return A


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_combiner_dense_factorisation(causal):
    q, k, v = qkv(N=13)
    mask = mask_of([13, 9], 13)
    A = combiner_dense(q, k, v, mask, causal, s=4)
    assert_full_attention(A, mask, causal)
    out = build("combiner", causal, block_size=4)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(A @ v, mask), atol=ATOL, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block", [1, 23])
def test_oracle_combiner_reduces_to_softmax(causal, block):
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    out = build("combiner", causal, block_size=block)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(softmax_oracle(q, k, v, mask, causal), mask), atol=ATOL, rtol=0)


def combiner_axial_dense(q, k, v, mask, causal, m, fill=0, summary="none", own_row=False, head_proj=None):
    """p(j|i) of Combiner-Axial entry by entry: own row direct, other rows through the summary at the
    query's column (paper Sec. 4.3; TF `axial_rowmajor`). Rows of m positions after `fill` empty ones;
    where the summary position (r, c) holds no real token, the row's max-pooled real q and k stand in.
    `head_proj`: (W [H, d, d], LayerNorm) of the `head_proj` summary key LN(k + u W)."""
    N, scale = q.shape[2], 1 / math.sqrt(q.shape[-1])
    A = torch.zeros(B, H, N, N, dtype=q.dtype)
    n = -(-(N + fill) // m)
    for b in range(B):
        for h in range(H):
            rows = [[p - fill for p in range(r * m, (r + 1) * m) if 0 <= p - fill < N and mask[b, p - fill]]
                    for r in range(n)]

            def at(r, c, x):
                j = r * m + c - fill
                return x[b, h, j] if 0 <= j < N and mask[b, j] else x[b, h, rows[r]].amax(0)

            def region(i, r, c):
                q_sum = at(r, c, q)
                inner = [q_sum @ k[b, h, j] * scale for j in rows[r]]
                p_row = torch.stack(inner).softmax(0)
                if summary == "none":
                    key = at(r, c, k)
                elif summary == "wsum":
                    key = p_row @ k[b, h, rows[r]]
                else:
                    W, norm = head_proj
                    key = norm(at(r, c, k) + (p_row @ v[b, h, rows[r]]) @ W[h])
                return q[b, h, i] @ key * scale, rows[r], inner

            for i in range(N):
                if not mask[b, i]:
                    continue
                own, col = divmod(i + fill, m)
                direct = [j for j in rows[own] if not causal or j <= i]
                regions = [region(i, r, col) for r in range(n) if rows[r]
                           and (r < own if causal else r != own or own_row)]
                add_joint_softmax(A, (b, h, i), direct, [q[b, h, i] @ k[b, h, j] * scale for j in direct], regions)
    return A


def assert_full_attention(A, mask, causal):
    """Every real query's row sums to 1 and puts weight > 0 on every real key it may see, 0 elsewhere."""
    N = A.shape[-1]
    on_support = support(mask, N, causal).expand_as(A) & mask[:, None, :, None]
    rows = A.sum(-1)[mask[:, None, :].expand(A.shape[:3])]
    torch.testing.assert_close(rows, torch.ones_like(rows), atol=ATOL, rtol=0)
    assert (A[on_support] > 0).all(), f"{(A[on_support] == 0).sum().item()} zero entries on real keys"
    assert (A[~support(mask, N, causal).expand_as(A)] == 0).all()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("summary", ["none", "wsum", "head_proj"])
@pytest.mark.parametrize("max_len", [64, 13])  # rows from position 0; a short first row (a CLS token)
def test_oracle_combiner_axial_dense_factorisation(causal, summary, max_len):
    q, k, v = qkv(N=13)
    mask = mask_of([13, 7], 13)  # sample 1: padding inside a row
    module = build("combiner_axial", causal, max_len=max_len, row_length=4, row_summary=summary)
    fill = 3 if max_len == 13 else 0
    head_proj = (module.summary_proj, module.summary_norm) if summary == "head_proj" else None
    A = combiner_axial_dense(q, k, v, mask, causal, m=4, fill=fill, summary=summary, head_proj=head_proj)
    assert_full_attention(A, mask, causal)
    torch.testing.assert_close(real(module(q, k, v, mask), mask), real(A @ v, mask), atol=ATOL, rtol=0)
    torch.testing.assert_close(real(module.attention_matrix(q, k, mask, v=v), mask), real(A, mask), atol=ATOL, rtol=0)


def tf_axial_rowmajor(q, k, v, m, causal, row_summary):
    """The authors' TF `axial_rowmajor` (google-research combiner/combiner/tf/approx_attention.py at
    bc66d082481ed4d3fdad63ce6b555513340b5a75) on q, k, v after the head split, einsum by einsum, for the
    parameter-free `row_summary` branches 'none' and 'wsum'; logits with 1/sqrt(d); no padding."""
    Bn, Hn, N, d = q.shape
    s = N // m
    qr, kr, vr = (t.reshape(Bn, Hn, s, m, d).permute(0, 2, 3, 1, 4) for t in (q / math.sqrt(d), k, v))  # bsqhd
    local_logits = torch.einsum("bsqhd,bskhd->bsqhk", qr, kr)
    row_probs = local_logits.softmax(-1)
    row_attn_out = torch.einsum("bsqhk,bskhd->bsqhd", row_probs, vr)
    key_row = kr if row_summary == "none" else torch.einsum("bsqhk,bskhd->bsqhd", row_probs, kr)
    if causal:
        local_logits = local_logits + torch.full((m, m), -1e30, dtype=q.dtype).triu(1)[:, None, :]
    global_logits = torch.einsum("bqlhd,bklhd->bqlhk", qr, key_row)
    if causal:
        global_logits = global_logits + torch.full((s, s), -1e30, dtype=q.dtype).triu(0)[:, None, None, :]
    probs = torch.cat([local_logits, global_logits], dim=-1).softmax(-1)
    local_att, global_att = probs[..., :m], probs[..., m:]
    merged = (torch.einsum("bsqhk,bskhd->bsqhd", local_att, vr)
              + torch.einsum("bqlhv,bvlhd->bqlhd", global_att, row_attn_out))
    return merged.permute(0, 3, 1, 2, 4).reshape(Bn, Hn, N, d)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("summary", ["none", "wsum"])
def test_oracle_combiner_axial_equals_the_authors_tf_function(causal, summary):
    """Full grids (N = 16, rows of 4): ours equals the TF code; its non-causal path also sees the own
    row's summary (`own_row_summary=True`)."""
    q, k, v = qkv(N=16)
    module = build("combiner_axial", causal, max_len=16, row_summary=summary, own_row_summary=not causal)
    torch.testing.assert_close(module(q, k, v, None), tf_axial_rowmajor(q, k, v, 4, causal, summary),
                               atol=1e-12, rtol=0)


def test_oracle_combiner_axial_rejects_the_renamed_proj():
    with pytest.raises(ConfigError, match="'proj' was renamed 'head_proj'"):
        build("combiner_axial", row_summary="proj")


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("row_length, summary", [(23, "head_proj"), (1, "none")])
def test_oracle_combiner_axial_reduces_to_softmax(causal, row_length, summary):
    """One row: direct attention only; rows of one token with k as the key: every region is a token."""
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    out = build("combiner_axial", causal, max_len=23, row_length=row_length, row_summary=summary)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(softmax_oracle(q, k, v, mask, causal), mask), atol=ATOL, rtol=0)


def combiner_mixture_dense(q, k, mask, m, fill=0):
    """p(j|i) of causal Combiner-Mixture entry by entry (the JAX `_AxialMixtureAtt` terms): own column
    above and own row up to i direct; column j != u over the rows above, and each earlier row left and
    right of u, as max-pooled summaries. Rows of m positions after `fill` empty ones."""
    N, scale = q.shape[2], 1 / math.sqrt(q.shape[-1])
    A = torch.zeros(B, H, N, N, dtype=q.dtype)
    for b in range(B):
        for h in range(H):
            def pos(t, c):
                j = t * m + c - fill
                return [j] if c < m and 0 <= j < N and mask[b, j] else []

            def summary(span):
                return (q[b, h, i] @ k[b, h, span].amax(0) * scale, span,
                        [q[b, h, span].amax(0) @ k[b, h, j] * scale for j in span])

            for i in range(N):
                s, u = divmod(i + fill, m)
                direct = [j for t in range(s) for j in pos(t, u)] + [j for c in range(u + 1) for j in pos(s, c)]
                spans = [[j for t in range(s) for j in pos(t, c)] for c in range(m) if c != u]
                spans += [[j for c in range(u) for j in pos(t, c)] for t in range(s)]
                spans += [[j for c in range(u + 1, m) for j in pos(t, c)] for t in range(s)]
                add_joint_softmax(A, (b, h, i), direct, [q[b, h, i] @ k[b, h, j] * scale for j in direct],
                                  [summary(span) for span in spans if span])
    return A


@pytest.mark.parametrize("row_length", [4, 5])  # max_len 64: rows of 4 from position 0; of 5 after 1 fill
def test_oracle_combiner_mixture_dense_factorisation(row_length):
    q, k, v = qkv(N=13)
    mask = mask_of([13, 9], 13)
    A = combiner_mixture_dense(q, k, mask, row_length, fill=(-64) % row_length)
    assert_full_attention(A, mask, True)
    out = build("combiner_mixture", True, row_length=row_length)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(A @ v, mask), atol=ATOL, rtol=0)


@pytest.mark.parametrize("row_length", [1, 23])
def test_oracle_combiner_mixture_reduces_to_causal_softmax(row_length):
    """Rows of one token: the own column is every earlier token; one row: the own row is."""
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    out = build("combiner_mixture", True, max_len=23, row_length=row_length)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(softmax_oracle(q, k, v, mask, True), mask), atol=ATOL, rtol=0)


def test_combiner_mixture_has_no_non_causal_form():
    with pytest.raises(ConfigError, match="attention=combiner_mixture: has only a causal form; set model.causal=true"):
        build("combiner_mixture", False)


# -- Element-wise Attention -----------------------------------------------------------------------

def ea_explicit(q, k, v, causal, order, tau=2.0, exact=False):
    kappa = 2 / tau
    x = kappa * q[..., :, None, :] * k[..., None, :, :]  # [B, H, i, j, c]
    poly = torch.exp(x) if exact else sum(x**n / math.factorial(n) for n in range(order + 1))
    w = poly * torch.exp(-(k**2) / tau)[..., None, :, :]
    if causal:
        w = w * torch.ones(q.shape[2], q.shape[2], dtype=q.dtype).tril()[..., None]
    return (w * v[..., None, :, :]).sum(-2) / w.sum(-2)


@pytest.mark.parametrize("causal", [False, True])
def test_oracle_elementwise_explicit(causal):
    q, k, v = qkv()
    out = build("elementwise", causal)(q, k, v, None)
    torch.testing.assert_close(out, ea_explicit(q, k, v, causal, order=6), atol=ATOL, rtol=0)
    mask = mask_of([23, 14], 23)
    padded = build("elementwise", causal)(q, k, v, mask)
    torch.testing.assert_close(padded[1, :, :14], ea_explicit(q[1:, :, :14], k[1:, :, :14], v[1:, :, :14],
                                                              causal, order=6)[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("low", [0.0, 8.0, 16.0])
def test_oracle_elementwise_causal_is_stable_for_large_keys_in_float32(low):
    """Every key with |k| in [low, 30] (exp(-k^2/2) underflows float32 from |k| ~ 14): the float32 causal
    output equals the float64 explicit form, and its last row equals the non-causal form's, to 5e-4 of
    max |out| (measured 0.9e-4 / 1.2e-4 / 1.9e-4 for low = 0 / 8 / 16; without the running max: 0.89 / 1 / 1)."""
    g = torch.Generator().manual_seed(0)
    q, v = (torch.randn(B, H, 23, D, generator=g, dtype=torch.float64) for _ in range(2))
    sign = torch.randint(0, 2, (B, H, 23, D), generator=g) * 2 - 1
    k = sign * (low + (30 - low) * torch.rand(B, H, 23, D, generator=g, dtype=torch.float64))
    ref = ea_explicit(q / 10, k, v, True, order=6)
    out = build("elementwise", True).float()(*(t.float() for t in (q / 10, k, v)), None).double()
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, atol=5e-4 * ref.abs().max().item(), rtol=0)
    full = build("elementwise", False).float()(*(t.float() for t in (q / 10, k, v)), None).double()
    torch.testing.assert_close(out[:, :, -1], full[:, :, -1], atol=5e-4 * ref.abs().max().item(), rtol=0)


def test_oracle_elementwise_error_falls_with_taylor_order():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.rand(B, H, 23, D, generator=g, dtype=torch.float64) - 0.5 for _ in range(3))
    exact = ea_explicit(q, k, v, False, order=0, exact=True)
    errors = {t: (build("elementwise", order=t)(q, k, v, None) - exact).abs().max().item() for t in (2, 4, 6, 8)}
    for t in (2, 4, 6):
        assert errors[t + 2] < errors[t] / 10, errors
    assert errors[8] < 1e-6, errors


def test_oracle_elementwise_causal_equals_step_recurrence():
    q, k, v = qkv()
    out = build("elementwise", True)(q, k, v, None)
    kappa, order = 1.0, 6
    A = torch.zeros(B, H, order + 1, D, dtype=torch.float64)
    Bn = torch.zeros_like(A)
    steps = []
    for t in range(23):
        w = torch.exp(-k[:, :, t] ** 2 / 2)
        for n in range(order + 1):
            A[:, :, n] += k[:, :, t] ** n * w * v[:, :, t]
            Bn[:, :, n] += k[:, :, t] ** n * w
        coeff = torch.tensor([kappa**n / math.factorial(n) for n in range(order + 1)], dtype=torch.float64)
        powers = torch.stack([q[:, :, t] ** n for n in range(order + 1)], 2)
        steps.append((coeff[:, None] * powers * A).sum(2) / (coeff[:, None] * powers * Bn).sum(2))
    torch.testing.assert_close(out, torch.stack(steps, 2), atol=ATOL, rtol=0)


def test_oracle_elementwise_channels_are_independent():
    q, k, v = qkv()
    module = build("elementwise")
    out = module(q, k, v, None)
    q2, k2, v2 = (t.clone() for t in (q, k, v))
    for t in (q2, k2, v2):
        t[..., 3] = torch.randn_like(t[..., 3])
    out2 = module(q2, k2, v2, None)
    keep = [c for c in range(D) if c != 3]
    torch.testing.assert_close(out2[..., keep], out[..., keep], atol=ATOL, rtol=0)


def test_oracle_elementwise_rejects_odd_order():
    with pytest.raises(ConfigError, match="attention.order: must be an even"):
        build("elementwise", order=5)


# -- classic baselines ----------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
def test_oracle_local_consecutive_is_block_masked_softmax(causal):
    """`pattern: consecutive` (and every causal form); LRA's strided default: test_oracles_lra_baselines.py."""
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    out = build("local", causal, block_size=6, pattern="consecutive")(q, k, v, mask)
    blocks = torch.arange(23) // 6
    allowed = support(mask, 23, causal) & (blocks[:, None] == blocks[None, :])
    s = (q @ k.transpose(-1, -2) / math.sqrt(D)).masked_fill(~allowed, float("-inf"))
    torch.testing.assert_close(real(out, mask), real(s.softmax(-1) @ v, mask), atol=ATOL, rtol=0)


def test_oracle_linformer_with_identity_projections_is_softmax():
    q, k, v = qkv()
    module = build("linformer", max_len=23, proj_len=23, share_kv=False)
    with torch.no_grad():
        module.E.copy_(torch.eye(23))
        module.F.copy_(torch.eye(23))
    mask = mask_of([23, 23], 23)
    torch.testing.assert_close(module(q, k, v, None), softmax_oracle(q, k, v, mask, False), atol=ATOL, rtol=0)


def test_oracle_performer_approaches_softmax_as_features_grow():
    """`attention_fn: softmax` (FAVOR+) is unbiased for exp(q.k/sqrt(d)) but heavy-tailed (log-normal): its error falls slowly.
    Calibrated: mean |error| over 5 feature draws 0.024 at m=16, 0.0053 at m=4096."""
    q, k, v = qkv(scale=0.5)
    ref = softmax_oracle(q, k, v, mask_of([23, 23], 23), False)
    errors = {}
    for m in (16, 4096):
        draws = []
        for seed in range(5):
            torch.manual_seed(seed)
            draws.append((build("performer", attention_fn="softmax", num_features=m)(q, k, v, None) - ref).abs().mean().item())
        errors[m] = sum(draws) / len(draws)
    assert errors[4096] < errors[16] / 3 and errors[4096] < 0.01, errors


def test_oracle_nystromformer_with_a_landmark_per_token_is_softmax():
    q, k, v = qkv()
    mask = mask_of([23, 14], 23)
    out = build("nystromformer", num_landmarks=23, pinv_iterations=20)(q, k, v, mask)
    torch.testing.assert_close(real(out, mask), real(softmax_oracle(q, k, v, mask, False), mask), atol=1e-6, rtol=0)
