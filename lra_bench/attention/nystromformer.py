"""Nystromformer (Xiong et al., AAAI 2021; mlpen/Nystromformer `attention_nystrom.py`; spec/attention.md
"Classic LRA baselines"). Non-causal.

softmax(Q K^T / sqrt(d)) V ~ softmax(Q K~^T) pinv(softmax(Q~ K~^T)) softmax(Q~ K^T) V with m = 64
landmarks Q~, K~ = segment means, and the pseudo-inverse by 6 Newton-Schulz iterations.
Padding-invariant form (our choice; the authors' code averages fixed segments of the padded tensor
and scales the first iterate by a batch-wide max): each sequence's real tokens are split into
min(m, length) segments, and the iteration is initialised per matrix. Unused landmarks (a sequence
shorter than m) get an identity block, so they contribute nothing.
"""

import torch
from torch import nn

from .registry import Attention, register_attention


def newton_schulz_pinv(a: torch.Tensor, iterations: int) -> torch.Tensor:
    """Iterative Moore-Penrose inverse of the Nystromformer paper (Eq. 16), per matrix."""
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    scale = a.abs().sum(-1).amax(-1) * a.abs().sum(-2).amax(-1)
    z = a.transpose(-1, -2) / scale[..., None, None]
    for _ in range(iterations):
        az = a @ z
        z = 0.25 * z @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))
    return z


@register_attention("nystromformer")
class NystromformerAttention(Attention):
    supports_causal = False
    bf16_tolerance = 0.1
    compute_in_float32 = True

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, num_landmarks: int = 64,
                 pinv_iterations: int = 6):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.num_landmarks, self.pinv_iterations = num_landmarks, pinv_iterations

    def forward(self, q, k, v, key_padding_mask=None):
        B, H, N, D = q.shape
        real = torch.ones(B, N, dtype=torch.bool, device=q.device) if key_padding_mask is None else key_padding_mask
        lengths = real.sum(-1, keepdim=True)  # [B, 1]
        m = self.num_landmarks
        # segment of each real token: floor(position * segments / length); padding -> no segment
        segments = torch.minimum(lengths, torch.tensor(m, device=q.device))
        seg = torch.arange(N, device=q.device)[None, :] * segments // lengths
        assign = (nn.functional.one_hot(seg.clamp_max(m - 1), m).to(q.dtype) * real[..., None])  # [B, N, m]
        used = assign.sum(1) > 0  # [B, m]
        weights = assign / assign.sum(1, keepdim=True).clamp_min(1)
        q = q * D**-0.25
        k = k * D**-0.25
        q_land = torch.einsum("bnm,bhnd->bhmd", weights, q)
        k_land = torch.einsum("bnm,bhnd->bhmd", weights, k)
        key_ok = real[:, None, None, :]
        land_ok = used[:, None, None, :]
        kernel1 = (q @ k_land.transpose(-1, -2)).masked_fill(~land_ok, float("-inf")).softmax(-1)
        kernel2 = (q_land @ k_land.transpose(-1, -2)).masked_fill(~land_ok, float("-inf")).softmax(-1)
        eye = torch.eye(m, dtype=q.dtype, device=q.device)
        both = used[:, None, :, None] & used[:, None, None, :]
        kernel2 = torch.where(both, kernel2.nan_to_num(0.0), eye * (~used[:, None, :, None]))
        kernel3 = (q_land @ k.transpose(-1, -2)).masked_fill(~key_ok, float("-inf")).softmax(-1)
        out = kernel1 @ (newton_schulz_pinv(kernel2, self.pinv_iterations) @ (kernel3 @ v))
        return out
