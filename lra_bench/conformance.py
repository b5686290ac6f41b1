"""The conformance suite (spec/README.md, "Conformance"), shipped in the package so that a pip user can run
it on their own variant: `lra-bench check attention=NAME` prints a Markdown table (check, form, result,
detail) to paste into a paper's appendix; tests/test_conformance.py runs the same checks under pytest for
every registered variant. Every variant, present or future, in every form it declares (non-causal /
causal), gets these checks with no code of its own. Each check raises AssertionError on a fault, `Skip`
when the variant declares it does not apply, and may return a detail line.

Tolerances: float64 checks (padding, causality, batch independence) to 1e-9 absolute; float32 vs
bfloat16 to the variant's declared `bf16_tolerance` relative to max |output|.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from .attention import Attention, attention_schema, build_attention, get_attention_class

DIM_HEAD, HEADS, MAX_LEN, PRIME = 16, 2, 48, 37


class Skip(Exception):
    """The check does not apply: the variant declares so (the reason says which flag)."""


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


def check_shape_and_dtype(name, causal, dtype):
    module = _build(name, causal, dtype=dtype)
    q, k, v = _qkv(dtype=dtype)
    out = module(q, k, v, _mask([PRIME, 20], PRIME))
    assert out.shape == q.shape and out.dtype == dtype
    assert torch.isfinite(out.float()).all()


def check_padding_invariance(name, causal):
    """More padding, or garbage in the padded positions, changes nothing at real positions."""
    if not get_attention_class(name).padding_invariant:
        raise Skip(f"{name} declares padding_invariant = False")
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


def check_no_causal_leak(name, causal=True):
    if get_attention_class(name).statistics_see_future:
        raise Skip(f"{name} declares statistics_see_future: whole-sequence statistics by design (see its docstring)")
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


def check_statistics_see_future_is_declared(name, causal=True):
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


def check_no_zero_weight_on_a_real_key(name, causal, max_len):
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


def check_empty_rows_are_declared(name, causal):
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


def check_finite_gradients(name, causal):
    module = _build(name, causal, dtype=torch.float32)
    q, k, v = (t.requires_grad_() for t in _qkv(dtype=torch.float32))
    out = module(q, k, v, _mask([PRIME, 20], PRIME))
    (out * torch.randn_like(out)).sum().backward()
    reads_keys = get_attention_class(name).reads_keys
    for t in (q, k, v) if reads_keys else (q, v):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
    if not reads_keys:  # the flag is a claim: such a variant must really ignore k
        assert k.grad is None or not k.grad.any(), f"{name} declares reads_keys = False but k has a gradient"
    for pname, p in module.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


def check_batch_independence(name, causal):
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


def check_float32_bfloat16_agreement(name, causal):
    tolerance = get_attention_class(name).bf16_tolerance
    module = _build(name, causal, dtype=torch.float32)
    q, k, v = _qkv(dtype=torch.float32)
    mask = _mask([PRIME, 20], PRIME)
    reference = module(q, k, v, mask)
    low = module.to(torch.bfloat16)(*(t.bfloat16() for t in (q, k, v)), mask).float()
    error = ((low - reference).abs().max() / reference.abs().max()).item()
    assert error <= tolerance, f"bf16 relative error {error:.3g} > declared {tolerance}"
    return f"relative error {error:.2g} <= declared {tolerance}"


def check_odd_lengths(name, causal, length):
    module = _build(name, causal, dtype=torch.float32)
    q, k, v = _qkv(length=length, dtype=torch.float32)
    for mask in (None, _mask([length, max(1, length // 2)], length)):
        out = module(q, k, v, mask)
        assert out.shape == q.shape and torch.isfinite(out).all()


def check_determinism(name, causal):
    q, k, v = _qkv(dtype=torch.float32)
    mask = _mask([PRIME, 20], PRIME)
    a = _build(name, causal, seed=3, dtype=torch.float32)(q, k, v, mask)
    b = _build(name, causal, seed=3, dtype=torch.float32)(q, k, v, mask)
    assert torch.equal(a, b)


def check_config_node(name, causal=None):
    """The variant's config node: its YAML (packaged, or in a user/include conf folder) type-checked against
    its signature, or, with no YAML, the node generated from the signature's defaults."""
    from omegaconf import OmegaConf

    from .compose import include_conf_dirs
    from .config import CONF_DIR

    paths = [p for conf in [CONF_DIR, *include_conf_dirs()] if (p := conf / "attention" / f"{name}.yaml").is_file()]
    if not paths:
        attention_schema(name)(name=name)  # every hyperparameter has a default and a type
        return "generated from the signature (no YAML)"
    node = OmegaConf.load(paths[-1])
    assert node.name == name, f"{paths[-1]}: name is {node.name!r}, expected {name!r}"
    attention_schema(name)(**node)  # every key is a known, well-typed hyperparameter
    return f"{paths[-1].name} type-checks against the signature"


def check_attention_matrix_reproduces_the_output(name, causal):
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


def check_compiles_and_matches_eager(name, causal):
    """torch.compile (on by default on CUDA) takes every variant, forward and backward, with padding;
    a variant that graph-breaks still has to give eager's numbers. Slow: one compilation per form."""
    from .train import compile_fresh

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


@dataclass(frozen=True)
class Check:
    """One check with its parameter grid and the forms it applies to."""

    function: Callable
    params: list[dict] = field(default_factory=lambda: [{}])
    applies: Callable[[type, bool], bool] = lambda cls, causal: True
    once: bool = False  # one run per variant, not per form
    slow: bool = False

    @property
    def id(self) -> str:
        return self.function.__name__.removeprefix("check_")


CHECKS = [
    Check(check_shape_and_dtype, [{"dtype": torch.float32}, {"dtype": torch.bfloat16}]),
    Check(check_padding_invariance),
    Check(check_no_causal_leak, applies=lambda cls, causal: causal),
    Check(check_statistics_see_future_is_declared, applies=lambda cls, causal: causal),
    Check(check_no_zero_weight_on_a_real_key, [{"max_len": MAX_LEN}, {"max_len": PRIME}],
          applies=lambda cls, causal: cls.full_attention),
    Check(check_empty_rows_are_declared),
    Check(check_finite_gradients),
    Check(check_batch_independence),
    Check(check_float32_bfloat16_agreement),
    Check(check_odd_lengths, [{"length": 1}, {"length": PRIME}, {"length": MAX_LEN}]),
    Check(check_determinism),
    Check(check_config_node, once=True),
    Check(check_attention_matrix_reproduces_the_output),
    Check(check_compiles_and_matches_eager, slow=True),
]


def forms(name: str) -> list[bool]:
    """The forms a variant declares: False = non-causal, True = causal."""
    cls = get_attention_class(name)
    return [causal for causal in (False, True) if cls.has_form(causal)]


def cases(name: str, slow: bool = False) -> list[tuple[Check, bool, dict]]:
    """(check, causal, params) for every check that applies to a form of the variant."""
    cls = get_attention_class(name)
    found = []
    for check in (c for c in CHECKS if slow or not c.slow):
        for causal in forms(name)[:1] if check.once else forms(name):
            if check.applies(cls, causal):
                found += [(check, causal, params) for params in check.params]
    return found


def case_label(check: Check, causal: bool, params: dict) -> str:
    """e.g. `odd_lengths[causal, length=37]`."""
    parts = ([] if check.once else ["causal" if causal else "non-causal"])
    parts += [f"{k}={str(v).removeprefix('torch.')}" for k, v in params.items()]
    return f"{check.id}[{', '.join(parts)}]" if parts else check.id


def run_checks(name: str, slow: bool = False) -> list[tuple[str, str, str]]:
    """(check, result PASS/FAIL/SKIP, detail) for every case; a failing check never stops the others."""
    rows = []
    for check, causal, params in cases(name, slow):
        try:
            detail = check.function(name, causal, **params) or ""
            result = "PASS"
        except Skip as skip:
            result, detail = "SKIP", str(skip)
        except Exception as err:  # noqa: BLE001 - a fault of the variant under test is this check's result
            result, detail = "FAIL", " ".join(f"{type(err).__name__}: {err}".split())[:200]
        rows.append((case_label(check, causal, params), result, detail))
    return rows


def markdown_table(name: str, rows: list[tuple[str, str, str]]) -> str:
    """The summary to paste into a paper's appendix."""
    counts = {r: sum(1 for _, got, _ in rows if got == r) for r in ("PASS", "FAIL", "SKIP")}
    lines = [f"### Conformance of `{name}` (lra-bench, spec/README.md \"Conformance\"): "
             f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped", "",
             "| check | result | detail |", "| --- | --- | --- |"]
    lines += [f"| {check} | {result} | {detail.replace('|', '/')} |" for check, result, detail in rows]
    return "\n".join(lines)
