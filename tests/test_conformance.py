"""The conformance suite (lra_bench/conformance.py, spec/README.md "Conformance") under pytest: every check
for every registered variant in every form it declares. The checks live in the package (so that
`lra-bench check attention=NAME` runs them for a pip user); this file only parametrises them."""

import pytest

from lra_bench.attention import list_attentions
from lra_bench.conformance import Skip, cases


def _params():
    for name in list_attentions():
        for check, causal, params in cases(name, slow=True):
            form = "" if check.once else ("-causal" if causal else "-noncausal")
            suffix = "".join(f"-{str(v).removeprefix('torch.')}" for v in params.values())
            marks = [pytest.mark.slow] if check.slow else []
            yield pytest.param(check, name, causal, params, id=f"{name}{form}-{check.id}{suffix}", marks=marks)


@pytest.mark.parametrize("check, name, causal, params", list(_params()))
def test_conformance(check, name, causal, params):
    try:
        check.function(name, causal, **params)
    except Skip as reason:
        pytest.skip(str(reason))
