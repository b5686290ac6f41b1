"""Test-only variants that fail on purpose (loaded through LRA_BENCH_INCLUDE, never by the package):
one raises, one returns NaN (the loss diverges), one runs out of memory."""

import torch

from lra_bench.attention import Attention, register_attention


@register_attention("always_fails")
class AlwaysFails(Attention):
    def forward(self, q, k, v, key_padding_mask=None):
        raise RuntimeError("boom: this test-only variant always fails")


@register_attention("returns_nan")
class ReturnsNaN(Attention):
    def forward(self, q, k, v, key_padding_mask=None):
        return v * float("nan")


@register_attention("runs_out_of_memory")
class RunsOutOfMemory(Attention):
    def forward(self, q, k, v, key_padding_mask=None):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB (test-only variant)")
