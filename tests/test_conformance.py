"""The conformance suite (spec/README.md, "Conformance"): every registered variant, present or future,
in every form it declares (non-causal / causal), gets these tests with no code of its own.

Tolerances: float64 checks (padding, causality, batch independence) to 1e-9 absolute; float32 vs
bfloat16 to the variant's declared `bf16_tolerance` relative to max |output|.
"""

import pytest
import torch

from lra_bench.attention import Attention, attention_schema, build_attention, get_attention_class, list_attentions

DIM_HEAD, HEADS, MAX_LEN, PRIME = 16, 2, 48, 37


def _forms():
    for name in list_attentions():
        cls = get_attention_class(name)
        if cls.supports_noncausal:
            yield pytest.param(name, False, id=f"{name}-noncausal")
        if cls.supports_causal:
            yield pytest.param(name, True, id=f"{name}-causal")


FORMS = list(_forms())


def _build(name, causal, seed=0, dtype=torch.float64, max_len=MAX_LEN):
    """The variant with its defaults, in eval mode (dropout on attention weights off: these are checks
    of the function; training-mode behaviour is each variant's own test)."""
    torch.manual_seed(seed)
    module = build_attention(attention_schema(name)(name=name), dim_head=DIM_HEAD, num_heads=HEADS, causal=causal,
                             max_len=max_len)
    return module.to(dtype).eval()


def _qkv(batch=2, length=PRIME, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, HEADS, length, DIM_HEAD, generator=g).to(dtype) for _ in range(3)]


def _mask(lengths, total):
    return torch.arange(total)[None, :] < torch.tensor(lengths)[:, None]


@pytest.mark.parametrize("name, causal", FORMS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_conformance_shape_and_dtype(name, causal, dtype):
    module = _build(name, causal, dtype=dtype)
    q, k, v = _qkv(dtype=dtype)
    out = module(q, k, v, _mask([PRIME, 20], PRIME))
    assert out.shape == q.shape and out.dtype == dtype
    assert torch.isfinite(out.float()).all()


@pytest.mark.parametrize("name, causal", FORMS)
def test_conformance_padding_invariance(name, causal):
    """More padding, or garbage in the padded positions, changes nothing at real positions."""
    if not get_attention_class(name).padding_invariant:
        pytest.skip(f"{name} declares padding_invariant = False")
    module = _build(name, causal)
    q, k, v = _qkv()
    mask = _mask([PRIME, 20], PRIME)
    padded = module(q, k, v, mask)
    longer = [torch.cat([t, torch.randn(2, HEADS, MAX_LEN - PRIME, DIM_HEAD, dtype=t.dtype)], dim=2) for t in (q, k, v)]
    more_padding = module(*longer, _mask([PRIME, 20], MAX_LEN))
    torch.testing.assert_close(more_padding[0, :, :PRIME], padded[0], atol=1e-9, rtol=0)
    torch.testing.assert_close(more_padding[1, :, :20], padded[1, :, :20], atol=1e-9, rtol=0)
    q2, k2, v2 = (t.clone() for t in (q, k, v))
    for t in (q2, k2, v2):
        t[1, :, 20:] = 1e3 * torch.randn_like(t[1, :, 20:])
    torch.testing.assert_close(module(q2, k2, v2, mask)[:, :, :20], padded[:, :, :20], atol=1e-9, rtol=0)
    if not module.batch_statistics:  # a padded sequence equals the same sequence alone
        alone = module(q[1:, :, :20], k[1:, :, :20], v[1:, :, :20], None)
        torch.testing.assert_close(padded[1:, :, :20], alone, atol=1e-9, rtol=0)


@pytest.mark.parametrize("name", [n for n in list_attentions() if get_attention_class(n).supports_causal])
def test_conformance_no_causal_leak(name):
    if get_attention_class(name).statistics_see_future:
        pytest.skip(f"{name} declares statistics_see_future: whole-sequence statistics by design (see its docstring)")
    module = _build(name, True)
    q, k, v = _qkv()
    out = module(q, k, v, None)
    cut = 17
    q2, k2, v2 = (t.clone() for t in (q, k, v))
    for t in (q2, k2, v2):
        t[:, :, cut:] = 5 * torch.randn_like(t[:, :, cut:])
    out2 = module(q2, k2, v2, None)
    torch.testing.assert_close(out2[:, :, :cut], out[:, :, :cut], atol=1e-9, rtol=0)
    assert (out2[:, :, cut:] - out[:, :, cut:]).abs().max() > 1e-3, "the perturbation should change later outputs"


@pytest.mark.parametrize("name", [n for n in list_attentions() if get_attention_class(n).supports_causal])
def test_conformance_statistics_see_future_is_declared(name):
    """A causal prefix computed alone equals the same prefix inside a longer sequence, unless the variant
    declares `statistics_see_future` (LLN's std, cosFormer's M): then it must differ (checked, not trusted)."""
    module = _build(name, True)
    q, k, v = _qkv()
    cut = 17
    whole = module(q, k, v, None)[:, :, :cut]
    prefix = module(q[:, :, :cut], k[:, :, :cut], v[:, :, :cut], None)
    if get_attention_class(name).statistics_see_future:
        assert (whole - prefix).abs().max() > 1e-6, f"{name} declares statistics_see_future but its prefix ignores the rest"
    else:
        torch.testing.assert_close(whole, prefix, atol=1e-9, rtol=0)


@pytest.mark.parametrize("name, causal", [f for f in FORMS if get_attention_class(f.values[0]).full_attention])
@pytest.mark.parametrize("max_len", [MAX_LEN, PRIME])  # PRIME = 6 x 6 + 1: a grid after one extra token (CLS)
def test_conformance_no_zero_weight_on_a_real_key(name, causal, max_len):
    """Variants that promise full attention (`full_attention`, e.g. Combiner) give every real query weight
    > 0 on every real key it may see, padded or not."""
    module = _build(name, causal, max_len=max_len)
    q, k, v = _qkv()
    mask = _mask([PRIME, 20], PRIME)
    A = module.attention_matrix(q, k, mask, v=v)
    allowed = mask[:, None, :, None] & mask[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(PRIME, PRIME, dtype=torch.bool).tril()
    zeros = (A[allowed.expand_as(A)] <= 0).sum().item()
    assert zeros == 0, f"{zeros} zero entries on real keys"


@pytest.mark.parametrize("name, causal", FORMS)
def test_conformance_empty_rows_are_declared(name, causal):
    """Queries whose every channel is negative: a variant that declares `may_leave_empty_rows` (cosFormer:
    relu features orthogonal to every key) outputs exactly 0 there; any other gives a non-zero output."""
    module = _build(name, causal)
    q, k, v = _qkv()
    mask = _mask([PRIME, 20], PRIME)
    out = module(-q.abs(), k.abs(), v, mask)[1, :, :20]
    assert torch.isfinite(out).all()
    if get_attention_class(name).may_leave_empty_rows:
        assert (out == 0).all(), f"{name} declares may_leave_empty_rows: these rows should be empty (output 0)"
    else:
        assert (out.abs().amax(-1) > 0).all(), f"{name} left a row empty without declaring may_leave_empty_rows"


@pytest.mark.parametrize("name, causal", FORMS)
def test_conformance_finite_gradients(name, causal):
    module = _build(name, causal, dtype=torch.float32)
    q, k, v = (t.requires_grad_() for t in _qkv(dtype=torch.float32))
    out = module(q, k, v, _mask([PRIME, 20], PRIME))
    (out * torch.randn_like(out)).sum().backward()
    reads_keys = get_attention_class(name).reads_keys
    for t in (q, k, v) if reads_keys else (q, v):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    if not reads_keys:  # the flag is a claim: such a variant must really ignore k
        assert k.grad is None or not k.grad.any()
    for pname, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


@pytest.mark.parametrize("name, causal", FORMS)
def test_conformance_batch_independence(name, causal):
    """A sample's output does not depend on the other samples of its batch, unless the variant declares
    `batch_statistics` (then it must depend on them: the flag is checked, not trusted)."""
    module = _build(name, causal)
    q, k, v = _qkv(batch=3)
    q[2], k[2] = 3 * q[2], 3 * k[2]  # a sample of another scale moves any batch-pooled statistic
    mask = _mask([PRIME, 30, 25], PRIME)
    first = module(q[:2], k[:2], v[:2], mask[:2])
    other = module(q[[0, 2]], k[[0, 2]], v[[0, 2]], mask[[0, 2]])
    if module.batch_statistics:
        assert (first[0] - other[0]).abs().max() > 1e-6, f"{name} declares batch_statistics but ignores the batch"
    else:
        torch.testing.assert_close(first[0], other[0], atol=1e-9, rtol=0)


@pytest.mark.parametrize("name, causal", FORMS)
def test_conformance_float32_bfloat16_agreement(name, causal):
    tolerance = get_attention_class(name).bf16_tolerance
    module = _build(name, causal, dtype=torch.float32)
    q, k, v = _qkv(dtype=torch.float32)
    mask = _mask([PRIME, 20], PRIME)
    reference = module(q, k, v, mask)
    low = module.to(torch.bfloat16)(*(t.bfloat16() for t in (q, k, v)), mask).float()
    error = ((low - reference).abs().max() / reference.abs().max()).item()
    assert error <= tolerance, f"bf16 relative error {error:.3g} > declared {tolerance}"


@pytest.mark.parametrize("name, causal", FORMS)
@pytest.mark.parametrize("length", [1, PRIME, MAX_LEN])
def test_conformance_odd_lengths(name, causal, length):
    module = _build(name, causal, dtype=torch.float32)
    q, k, v = _qkv(length=length, dtype=torch.float32)
    for mask in (None, _mask([length, max(1, length // 2)], length)):
        out = module(q, k, v, mask)
        assert out.shape == q.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("name, causal", FORMS)
def test_conformance_determinism(name, causal):
    q, k, v = _qkv(dtype=torch.float32)
    mask = _mask([PRIME, 20], PRIME)
    a = _build(name, causal, seed=3, dtype=torch.float32)(q, k, v, mask)
    b = _build(name, causal, seed=3, dtype=torch.float32)(q, k, v, mask)
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", list_attentions())
def test_conformance_has_a_config_file(name):
    from lra_bench.config import CONF_DIR
    from omegaconf import OmegaConf

    path = CONF_DIR / "attention" / f"{name}.yaml"
    assert path.is_file(), f"conf/attention/{name}.yaml is missing"
    node = OmegaConf.load(path)
    assert node.name == name
    attention_schema(name)(**node)  # every key is a known, well-typed hyperparameter


@pytest.mark.parametrize("name, causal", FORMS)
def test_conformance_attention_matrix_reproduces_the_output(name, causal):
    """`attention_matrix` (used by `lra-bench diagnose`) is the A with output = A V; a variant with an
    explicit per-channel form (Element-wise) gives row-stochastic channel averages instead."""
    module = _build(name, causal)
    q, k, v = _qkv()
    mask = _mask([PRIME, 20], PRIME)
    A = module.attention_matrix(q, k, mask, v=v)
    assert A.shape == (2, HEADS, PRIME, PRIME)
    if type(module).attention_matrix is not Attention.attention_matrix:  # an explicit form of its own
        torch.testing.assert_close(A[1, :, :20].sum(-1), torch.ones(HEADS, 20, dtype=A.dtype), atol=1e-9, rtol=0)
    else:
        out = module(q, k, v, mask)
        torch.testing.assert_close((A @ v)[1, :, :20], out[1, :, :20], atol=1e-9, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("name, causal", FORMS)
def test_conformance_compiles_and_matches_eager(name, causal):
    """torch.compile (on by default on CUDA) takes every variant, forward and backward, with padding;
    a variant that graph-breaks still has to give eager's numbers. Slow: one compilation per form."""
    from lra_bench.train import compile_fresh

    module = _build(name, causal, dtype=torch.float32)
    q, k, v = (t.requires_grad_() for t in _qkv(dtype=torch.float32))
    mask = _mask([PRIME, 20], PRIME)
    eager = module(q, k, v, mask)
    eager_grads = torch.autograd.grad(eager[1, :, :20].sum(), (q, k, v))
    compiled = compile_fresh(module)(q, k, v, mask)
    grads = torch.autograd.grad(compiled[1, :, :20].sum(), (q, k, v))
    torch.testing.assert_close(compiled[1, :, :20], eager[1, :, :20], atol=1e-4, rtol=1e-4)
    for got, want in zip(grads, eager_grads):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
