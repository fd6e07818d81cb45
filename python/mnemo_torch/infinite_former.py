"""A PyTorch twin of mnemo's ∞-former decoder language model (include/mnemo/models/infinite_former*.hpp,
docs/infinite_former.md §9): token embedding → pre-LN layers (causal short-term attention with
ALiBi over [cache ; segment] plus each layer's continuous long-term memory, read with the
attention's own queries) → final LN → tied or untied head.

Per step and layer: the segment leaving the short-term window (the oldest cached one once more
than stm_segments are cached) is written into the long-term memory, the layer reads it, and the
layer input (detached) joins the cache. No gradient crosses steps: every step back-propagates on
its own. The stream state is an explicit value (InfiniteFormerState).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Deque, List, Optional, Tuple

import torch
from torch import nn

from .continuous_memory import ContinuousMemory, ContinuousMemoryConfig, ContinuousOperators, ContinuousState
from .layers import FeedForward, MultiHeadAttention, init_like_mnemo


@dataclass
class InfiniteFormerConfig:
    """mnemo::models::InfiniteFormerConfig, field for field (`ltm.segment_length` is ignored:
    the model uses `segment_length`)."""
    vocab: int = 256
    d_model: int = 512
    heads: int = 8
    d_ff: int = 2048
    layers: int = 6
    segment_length: int = 512
    stm_segments: int = 0
    dropout: float = 0.1
    use_ltm: bool = True
    alibi: bool = True
    tie_embeddings: bool = True
    init_std: float = 0.02
    ltm: ContinuousMemoryConfig = field(default_factory=ContinuousMemoryConfig)


@dataclass
class CachedSegment:
    inputs: List[torch.Tensor]   # per layer [batch, L_s, e], detached
    padding: torch.Tensor        # [batch, L_s] uint8, nonzero = padding


@dataclass
class InfiniteFormerState:
    batch: int
    ltm: List[ContinuousState]
    cache: Deque[CachedSegment] = field(default_factory=deque)
    steps: int = 0

    def reset_rows(self, mask) -> None:
        """Rows flagged start a new document: memories emptied, cached segments masked."""
        if not any(mask):
            return
        for s in self.ltm:
            s.reset_rows(mask)
        for entry in self.cache:
            entry.padding = entry.padding.clone()
            for b, m in enumerate(mask):
                if m:
                    entry.padding[b] = 1


@dataclass
class InfiniteFormerStep:
    logits: torch.Tensor   # [batch, L, vocab]
    kl_mean: torch.Tensor  # mean over rows, heads and queries of Σ_layers KL


class InfiniteFormerLayer(nn.Module):
    def __init__(self, name: str, c: InfiniteFormerConfig, operators: Optional[ContinuousOperators]):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.d_model, eps=1e-5)
        self.attn = MultiHeadAttention(c.d_model, c.heads)
        self.ln_2 = nn.LayerNorm(c.d_model, eps=1e-5)
        self.ffn = FeedForward(c.d_model, c.d_ff)
        self.ltm = ContinuousMemory(f"{name}.ltm", c.d_model, c.heads, c.ltm, operators) if c.use_ltm else None

    def forward(self, h, cache: List[torch.Tensor], cached: int, key_padding, alibi, write, write_padding,
                state: Optional[ContinuousState]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        coefficients = None
        if self.ltm is not None:
            coefficients = self.ltm.write(write, write_padding, state) if write is not None else state.coefficients
        xq = self.ln_1(h)
        xkv = xq
        if cache:
            xkv = torch.cat([self.ln_1(torch.cat(cache, dim=1)), xq], dim=1)
        q = self.attn.query_heads(xq)
        z = self.attn.attend(q, xkv, causal=True, query_offset=cached, key_padding=key_padding, alibi_slopes=alibi)
        kl = None
        if self.ltm is not None and any(state.has_memory):
            zl, kl = self.ltm.read(coefficients, q, state)
            z = z + zl
        elif self.ltm is not None:
            state.has_densities = [0] * len(state.has_densities)
        x = h + z
        return x + self.ffn(self.ln_2(x)), kl


class InfiniteFormer(nn.Module):
    kind = "infinite_former"

    def __init__(self, config: InfiniteFormerConfig):
        super().__init__()
        c = self.config = config
        self.embedding = nn.Embedding(c.vocab, c.d_model)
        self.operators = ContinuousOperators(c.ltm) if c.use_ltm else None
        self.layers = nn.ModuleList(InfiniteFormerLayer(f"layers.{i}", c, self.operators) for i in range(c.layers))
        self.ln_f = nn.LayerNorm(c.d_model, eps=1e-5)
        self.head = None if c.tie_embeddings else nn.Linear(c.d_model, c.vocab, bias=False)
        # ALiBi slopes 2^(−8(h+1)/H): mnemo computes them in float (std::pow(2.0f, ·)); here the
        # exponent is formed in float32 too and 2^x rounded to float32 (equal when x is an integer,
        # e.g. heads = 1, 2, 4, 8; otherwise at most an ulp of float32 apart).
        exponents = torch.tensor([-8.0], dtype=torch.float32) * torch.arange(1, c.heads + 1, dtype=torch.float32)
        exponents = exponents / torch.tensor(float(c.heads), dtype=torch.float32)
        slopes = torch.pow(2.0, exponents.to(torch.float64)).to(torch.float32)
        self.register_buffer("alibi_slopes", slopes, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """mnemo's initialisation distributions (not its exact values)."""
        init_like_mnemo(self, self.config.init_std)

    def initial_state(self, batch: int, seed: int = 0) -> InfiniteFormerState:
        ltm = [layer.ltm.initial_state(batch, seed) for layer in self.layers] if self.config.use_ltm else []
        return InfiniteFormerState(batch, ltm)

    def step(self, tokens: torch.Tensor, padding: Optional[torch.Tensor], state: InfiniteFormerState) -> InfiniteFormerStep:
        """One segment tokens [batch, L] (padding [batch, L], nonzero = padding, or None); advances `state`."""
        c = self.config
        batch, length = tokens.shape
        pad = torch.zeros(batch, length, dtype=torch.uint8) if padding is None else padding.to(torch.uint8).clone()
        leaving = state.cache.popleft() if len(state.cache) > c.stm_segments else None
        cached = sum(e.padding.shape[1] for e in state.cache)
        key_pad = torch.cat([e.padding for e in state.cache] + [pad], dim=1)
        dtype = self.embedding.weight.dtype
        alibi = self.alibi_slopes.to(dtype) if c.alibi else None
        h = self.embedding(tokens.long())
        inputs: List[torch.Tensor] = []
        kl_sum = None
        for i, layer in enumerate(self.layers):
            inputs.append(h.detach())
            write = leaving.inputs[i] if (leaving is not None and c.use_ltm) else None
            write_pad = leaving.padding if write is not None else None
            h, kl = layer(h, [e.inputs[i] for e in state.cache], cached, key_pad, alibi, write, write_pad,
                          state.ltm[i] if c.use_ltm else None)
            if kl is not None:
                kl_sum = kl if kl_sum is None else kl_sum + kl
        h = self.ln_f(h)
        logits = self.head(h) if self.head is not None else torch.matmul(h, self.embedding.weight.t())
        state.cache.append(CachedSegment(inputs, pad))
        state.steps += 1
        per_query = 1.0 / float(batch * c.heads * length)
        kl_mean = kl_sum * per_query if kl_sum is not None else torch.zeros((), dtype=dtype)
        return InfiniteFormerStep(logits, kl_mean)
