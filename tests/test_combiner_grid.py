"""Combiner on the Image and Pathfinder recipes' exact shapes (issue 17; spec/attention.md "Combiner"):
rows are the 32 pixel rows whatever extra token (CLS) the model adds, and no query gives weight 0 to a
real key (Combiner's defining property: every position reaches every other, directly or through a
summary)."""

import pytest
import torch

from lra_bench.compose import compose as _compose
from lra_bench.config import validate_run_config
from lra_bench.model import Classifier

VOCAB = 256  # 8-bit gray pixels


def attention_of(experiment, attention):
    run = validate_run_config(_compose([f"experiment={experiment}", f"attention={attention}"]))
    model = Classifier(run.model, run.attention, VOCAB, run.task.max_len, run.task.num_classes)
    return model.encoder.blocks[0].attn.attention.double().eval(), run


@pytest.mark.parametrize("experiment, tokens", [("lra/image", 1025), ("lra/pathfinder", 1024)])
def test_combiner_axial_rows_are_pixel_rows(experiment, tokens):
    """With q = 0 every logit is 0: a query's own-row keys get the direct weight 1 / (m + other rows)
    each, keys of another row share one summary. So the pixels of the largest weight are the query's row."""
    module, run = attention_of(experiment, "combiner_axial")
    extra = tokens - 1024  # the CLS token comes first
    assert module.max_len == tokens
    H, d = module.num_heads, module.dim_head
    g = torch.Generator().manual_seed(0)
    k = torch.randn(1, H, tokens, d, generator=g, dtype=torch.float64)
    A = module.attention_matrix(torch.zeros_like(k), k, None)
    for row, col in [(0, 0), (5, 17), (31, 31)]:
        i = extra + 32 * row + col
        pixels = A[0, 0, i, extra:]
        own_row = ((pixels - pixels.max()).abs() < 1e-12).nonzero().flatten()
        assert own_row.tolist() == list(range(32 * row, 32 * (row + 1))), (row, col)


@pytest.mark.parametrize("attention", ["combiner", "combiner_axial"])
@pytest.mark.parametrize("experiment, tokens", [("lra/image", 1025), ("lra/pathfinder", 1024)])
def test_combiner_gives_every_real_key_weight_on_the_recipe_shape(experiment, tokens, attention):
    module, _ = attention_of(experiment, attention)
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, module.num_heads, tokens, module.dim_head, generator=g, dtype=torch.float64)
               for _ in range(3))
    A = module.attention_matrix(q, k, None, v=v)
    assert A.shape[-1] == tokens
    assert (A <= 0).sum().item() == 0  # non-causal, nothing padded: every entry is a real key
    torch.testing.assert_close(A.sum(-1), torch.ones_like(A.sum(-1)), atol=1e-9, rtol=0)
