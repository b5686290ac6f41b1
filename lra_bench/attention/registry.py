"""The attention registry: `@register_attention("name")` on a class makes it a variant.

The contract (spec/README.md, "The attention contract"): a variant is an `nn.Module` constructed
with `dim_head`, `num_heads`, `causal`, `max_len` and its own keyword hyperparameters, and called as
`forward(q, k, v, key_padding_mask)` with q, k, v of shape [batch, heads, length, dim_head] and
`key_padding_mask` [batch, length] (True = real token, or None when nothing is padded).

The variant's config schema is read from its `__init__` signature (annotated keyword arguments with
defaults), so `conf/attention/<name>.yaml` is type-checked with no extra code in the variant file.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib.util
import inspect
import os
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError, did_you_mean

CONTRACT_ARGS = ("dim_head", "num_heads", "causal", "max_len")

# flash-linear-attention's chunked kernels (`pip install lra-bench[gpu]`); LRA_BENCH_FLA=0 forces the
# plain-PyTorch forms, which stay the reference and the CPU path.
FLA_AVAILABLE = importlib.util.find_spec("fla") is not None
HALF_DTYPES = (torch.float16, torch.bfloat16)


def _in_float32(forward):
    """`forward` with half/bfloat16 q, k, v upcast to float32 and the output cast back, for variants
    that declare `compute_in_float32` (exp of large logits, pseudo-inverses, Taylor powers)."""

    @functools.wraps(forward)
    def wrapped(self, q, k, v, *args, **kwargs):
        if not self.compute_in_float32 or q.dtype not in HALF_DTYPES:
            return forward(self, q, k, v, *args, **kwargs)
        return forward(self, q.float(), k.float(), v.float(), *args, **kwargs).to(q.dtype)

    wrapped.in_float32 = True
    return wrapped


class Attention(nn.Module):
    """Base class of every variant: capability flags the harness and the conformance suite read.

    - `supports_causal`: the variant has a causal form (else `causal=True` is rejected at build).
    - `supports_noncausal`: the variant has a non-causal form.
    - `padding_invariant`: padded keys do not change outputs at real positions.
    - `needs_max_len`: parameters depend on `max_len` (e.g. Linformer's projections).
    - `bf16_tolerance`: max |out_bf16 - out_fp32| / max|out_fp32| the variant promises.
    - `statistics_see_future`: the causal form uses whole-sequence statistics (e.g. LLN's moment
      matching, cosFormer's M), so later tokens change earlier outputs through those scalars; the
      conformance suite reports this instead of testing for no causal leak.
    - `batch_statistics`: outputs use statistics pooled over the whole batch (LLN's authors' std), so a
      sample's output depends on the other samples (padding still excluded); the conformance suite
      checks that dependence instead of batch independence. May be set per instance.
    - `full_attention`: every query gives weight > 0 to every real key it may see (Combiner's defining
      property); the conformance suite checks `attention_matrix` for zero entries on real keys.
    - `may_leave_empty_rows`: a query can get zero total weight (output 0), e.g. cosFormer when its relu
      features are orthogonal to every visible key; the conformance suite checks the rest of the row.
    - `compute_in_float32`: half/bfloat16 inputs are computed in float32 (the base class upcasts them
      around `forward` and casts the output back).
    - `reads_keys`: outputs depend on `k`. Reformer's LSH attention (shared QK, as LRA ran it) uses
      `q` as the key too, so `k` gets no gradient; the conformance suite then leaves `k` out.
    - `fla_causal`: the causal form has a flash-linear-attention kernel path; `use_fla(x)` decides,
      in one place, whether it runs (CUDA, fla installed, LRA_BENCH_FLA not 0).

    Recurrent inference (variants that set `supports_step`): `init_state(batch, device, dtype)` gives
    the state before any token, `step(state, q, k, v)` takes one token's [B, H, d] and returns its
    output and the new state, `prefill(q, k, v)` builds the state after a whole prompt at once.
    Feeding a sequence through `step` equals the parallel causal form (tested in float64), exactly with
    the hyperparameters in `step_equals_parallel_with` (e.g. LLN's eps = 0: its eps acts on a
    differently shifted denominator). Constants that the parallel form takes from the whole sequence
    (cosFormer's M, LLN's temperatures) come from `calibration=(q, k, v)` of that sequence when given.
    `constant_state = False` marks a state that varies in size but stays bounded (LLN+Diag's block).
    """

    supports_causal: bool = True
    supports_noncausal: bool = True
    padding_invariant: bool = True
    needs_max_len: bool = False
    bf16_tolerance: float = 0.05
    statistics_see_future: bool = False
    batch_statistics: bool = False
    full_attention: bool = False
    may_leave_empty_rows: bool = False
    compute_in_float32: bool = False
    fla_causal: bool = False
    reads_keys: bool = True
    supports_step: bool = False
    step_equals_parallel_with: dict = {}
    constant_state: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if forward is not None and not getattr(forward, "in_float32", False):
            cls.forward = _in_float32(forward)

    @classmethod
    def has_form(cls, causal: bool) -> bool:
        """Whether the variant has the causal (or the non-causal) form."""
        return cls.supports_causal if causal else cls.supports_noncausal

    def __init__(self, dim_head: int, num_heads: int, causal: bool = False, max_len: int = 4096):
        super().__init__()
        self.dim_head, self.num_heads, self.causal, self.max_len = dim_head, num_heads, causal, max_len

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def use_fla(self, x: torch.Tensor) -> bool:
        """Whether this call's causal form runs on fla's kernel (the one place that decides)."""
        return (self.fla_causal and self.causal and x.is_cuda and FLA_AVAILABLE
                and os.environ.get("LRA_BENCH_FLA", "1") != "0")

    def attention_matrix(self, q: torch.Tensor, k: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                         v: torch.Tensor | None = None) -> torch.Tensor:
        """The effective [B, H, N, N] matrix A with output = A V. A variant linear in V recovers it with
        V = identity (short inputs only); one whose weights read V (Combiner-Axial's `proj` summary
        keys) overrides this and uses `v`."""
        n = q.shape[2]
        eye = torch.eye(n, dtype=q.dtype, device=q.device).expand(q.shape[0], q.shape[1], n, n)
        return self(q, k, eye, key_padding_mask)

    def init_state(self, batch: int, device, dtype, calibration=None) -> dict:
        raise NotImplementedError(f"{type(self).__name__} has no recurrent form")

    def step(self, state: dict, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
        raise NotImplementedError(f"{type(self).__name__} has no recurrent form")

    def prefill(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, calibration=None) -> dict:
        """State after a prompt [B, H, T, d]; this generic form steps token by token."""
        state = self.init_state(q.shape[0], q.device, q.dtype, calibration)
        for t in range(q.shape[2]):
            _, state = self.step(state, q[:, :, t], k[:, :, t], v[:, :, t])
        return state


@dataclass
class AttentionConfig:
    """Fields every attention node has; a variant's own hyperparameters are added per variant."""

    name: str


_REGISTRY: dict[str, type[Attention]] = {}


def register_attention(name: str):
    """Class decorator: register `cls` under `name` (equal to its conf/attention/<name>.yaml)."""

    def decorate(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"attention '{name}' is registered twice: {_REGISTRY[name]} and {cls}")
        if not issubclass(cls, Attention):
            raise TypeError(f"@register_attention('{name}'): {cls.__name__} must subclass lra_bench.attention.Attention")
        cls.registry_name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def get_attention_class(name: str) -> type[Attention]:
    if name not in _REGISTRY:
        raise ConfigError(f"attention={name}: unknown attention; registered: {', '.join(list_attentions())}"
                          f"{did_you_mean(name, _REGISTRY)}")
    return _REGISTRY[name]


def list_attentions(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style wildcard, sorted (as timm's `list_models`)."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def hyperparameters(cls: type[Attention]) -> dict[str, inspect.Parameter]:
    """The variant's own keyword hyperparameters: its `__init__` arguments beyond the contract's."""
    params = inspect.signature(cls.__init__).parameters
    return {n: p for n, p in params.items() if n != "self" and n not in CONTRACT_ARGS
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def attention_schema(name: str) -> type:
    """A dataclass with `name` plus the variant's hyperparameters, typed from its annotations."""
    cls = get_attention_class(name)
    hints = inspect.get_annotations(cls.__init__, eval_str=True)
    fields = []
    for pname, param in hyperparameters(cls).items():
        if param.default is inspect.Parameter.empty:
            raise TypeError(f"attention '{name}': hyperparameter '{pname}' needs a default value")
        fields.append((pname, hints.get(pname, type(param.default)), dataclasses.field(default=param.default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Config", fields, bases=(AttentionConfig,))


def build_attention(config, *, dim_head: int, num_heads: int, causal: bool, max_len: int) -> Attention:
    """Instantiate the variant named by a validated attention config."""
    cls = get_attention_class(config.name)
    if not cls.has_form(causal):
        raise ConfigError(f"attention={config.name}: has no causal form; set model.causal=false" if causal else
                          f"attention={config.name}: has only a causal form; set model.causal=true")
    hyper = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name != "name"}
    return cls(dim_head=dim_head, num_heads=num_heads, causal=causal, max_len=max_len, **hyper)
