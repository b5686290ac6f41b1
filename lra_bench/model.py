"""The LRA encoder classifier, in plain PyTorch (nanoGPT-style, read top to bottom).

token embedding + positions -> pre-norm blocks (attention from the registry, MLP) -> final norm ->
mean or CLS pooling -> classifier head. As in the official LRA encoder, CLS pooling prepends a
learned token. The attention variant only sees q, k, v split into heads (spec/README.md contract).
A two-tower head (Retrieval) encodes both documents with the same encoder and combines them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .attention import build_attention
from .config import ModelConfig
from .data import PAD_ID


class MultiHeadAttention(nn.Module):
    """Shared input/output projections around a registered attention variant."""

    def __init__(self, config: ModelConfig, attention_config, max_len: int):
        super().__init__()
        self.num_heads, self.dim_head = config.num_heads, config.dim_head
        qkv_dim = config.num_heads * config.dim_head
        self.qkv = nn.Linear(config.dim, 3 * qkv_dim, bias=config.qkv_bias)
        self.out = nn.Linear(qkv_dim, config.dim, bias=config.qkv_bias)
        self.attention = build_attention(attention_config, dim_head=config.dim_head, num_heads=config.num_heads,
                                         causal=config.causal, max_len=max_len)

    def forward(self, x, key_padding_mask):
        B, N, _ = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, self.dim_head).permute(2, 0, 3, 1, 4)
        y = self.attention(q, k, v, key_padding_mask)
        return self.out(y.transpose(1, 2).reshape(B, N, -1))


class Block(nn.Module):
    def __init__(self, config: ModelConfig, attention_config, max_len: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.dim)
        self.attn = MultiHeadAttention(config, attention_config, max_len)
        self.norm2 = nn.LayerNorm(config.dim)
        self.mlp = nn.Sequential(nn.Linear(config.dim, config.mlp_dim), nn.GELU(), nn.Dropout(config.dropout),
                                 nn.Linear(config.mlp_dim, config.dim))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, key_padding_mask):
        x = x + self.dropout(self.attn(self.norm1(x), key_padding_mask))
        return x + self.dropout(self.mlp(self.norm2(x)))


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Fixed positions of Vaswani et al. 2017 (the official Pathfinder config uses these)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table


class Encoder(nn.Module):
    """Tokens [B, N] -> pooled features [B, dim]; PAD_ID marks padding."""

    def __init__(self, config: ModelConfig, attention_config, vocab_size: int, max_len: int):
        super().__init__()
        self.config = config
        self.use_cls = config.pooling == "cls"
        seq_len = max_len + int(self.use_cls)
        self.embed = nn.Embedding(vocab_size, config.dim, padding_idx=PAD_ID)
        if config.positions == "learned":
            self.positions = nn.Parameter(torch.randn(seq_len, config.dim) * 0.02)
        else:
            table = sinusoidal_positions(seq_len, config.dim) if config.positions == "sinusoidal" else torch.zeros(
                seq_len, config.dim)
            self.register_buffer("positions", table, persistent=False)
        self.cls = nn.Parameter(torch.zeros(1, 1, config.dim)) if self.use_cls else None
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, attention_config, seq_len) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = tokens != PAD_ID
        x = self.embed(tokens)
        if self.use_cls:
            x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1)
            mask = F.pad(mask, (1, 0), value=True)
        x = self.dropout(x + self.positions[: x.shape[1]])
        key_padding_mask = None if bool(mask.all()) else mask
        for block in self.blocks:
            x = block(x, key_padding_mask)
        x = self.norm(x)
        if self.config.pooling == "none":  # per-token features for per-token targets
            return x
        if self.use_cls:
            return x[:, 0]
        if self.config.pooling == "last":  # the last real token (Latte's Retrieval recipe)
            last = (mask * torch.arange(mask.shape[1], device=mask.device)).argmax(dim=1)
            return x[torch.arange(len(x), device=x.device), last]
        weights = mask.unsqueeze(-1).to(x.dtype)
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class Classifier(nn.Module):
    """Encoder + MLP head. `two_tower=True` takes tokens [B, 2, N] (Retrieval's document pairs);
    `pooling: none` gives logits per token [B, N, classes]."""

    def __init__(self, config: ModelConfig, attention_config, vocab_size: int, max_len: int, num_classes: int,
                 two_tower: bool = False):
        super().__init__()
        self.encoder = Encoder(config, attention_config, vocab_size, max_len)
        self.two_tower = two_tower
        features = config.dim * (4 if config.two_tower_combine == "paper" else 2) if two_tower else config.dim
        self.head = nn.Sequential(nn.Linear(features, config.mlp_dim), nn.GELU(), nn.Linear(config.mlp_dim, num_classes))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not self.two_tower:
            return self.head(self.encoder(tokens))
        u, v = self.encoder(tokens.flatten(0, 1)).view(len(tokens), 2, -1).unbind(1)
        combined = [u, v, u * v, u - v] if self.encoder.config.two_tower_combine == "paper" else [u, v]
        return self.head(torch.cat(combined, dim=-1))
