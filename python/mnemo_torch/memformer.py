"""A PyTorch twin of mnemo's Memformer (include/mnemo/models/memformer.hpp, docs/memformer.md).

    M_eff   = where(reset, normalize(v), M_t)
    H_t     = Encoder(s_t, M_eff)            pre-LN layers: self-attention, memory reader, FFN
    M_{t+1} = normalize(Writer(M_eff, H_t) + v)
    logits  = Decoder([BOS, s_{t+1, 1..L−1}], H_t) · Eᵀ (tied) or · W_out

The state M_t [batch, K, d] is an explicit value: `step` takes it and returns the next one, so a
training loop chooses how far gradients flow (full BPTT by chaining, truncated by detaching, or
MRBP-style replay: a detached forward pass to collect the states, then segment by segment
backward with the state gradient carried by hand). Module attribute names are mnemo's parameter
names; the only layout change between the two is the transposed linear weights (model_file.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import FeedForward, MultiHeadAttention, init_like_mnemo, l2_normalize


@dataclass
class MemformerConfig:
    """mnemo::models::MemformerConfig, field for field (the JSON of a model file's mnemo.config)."""
    vocab: int = 8192
    d_model: int = 512
    heads: int = 8
    d_ff: int = 2048
    slots: int = 64
    temperature: float = 0.5
    slot_scale: Optional[float] = None
    encoder_layers: int = 4
    decoder_layers: int = 8
    segment_length: int = 64
    dropout: float = 0.0
    tie_embeddings: bool = True
    bias_init_norm: float = 0.1
    init_std: float = 0.02
    position_scale: Optional[float] = None
    layer_norm_eps: float = 1e-5
    bos_id: int = 1

    def resolved_slot_scale(self) -> float:
        return self.slot_scale if self.slot_scale is not None else math.sqrt(float(self.d_model))

    def resolved_position_scale(self) -> float:
        return self.position_scale if self.position_scale is not None else self.init_std


@dataclass
class MemformerStep:
    hidden: torch.Tensor                      # H_t [batch, L, d]
    next_state: torch.Tensor                  # M_{t+1} [batch, K, d]
    logits: Optional[torch.Tensor] = None     # [batch, L, vocab] when a target was given


class _Layer(nn.Module):
    def __init__(self, c: MemformerConfig, decoder: bool):
        super().__init__()
        eps = c.layer_norm_eps
        self.self_attn_norm = nn.LayerNorm(c.d_model, eps=eps)
        self.self_attn = MultiHeadAttention(c.d_model, c.heads)
        if decoder:
            self.cross_attn_norm = nn.LayerNorm(c.d_model, eps=eps)
            self.cross_attn = MultiHeadAttention(c.d_model, c.heads)
        else:
            self.mem_read_norm = nn.LayerNorm(c.d_model, eps=eps)
            self.mem_read = MultiHeadAttention(c.d_model, c.heads)
        self.ffn_norm = nn.LayerNorm(c.d_model, eps=eps)
        self.ffn = FeedForward(c.d_model, c.d_ff)


class _Stack(nn.Module):
    def __init__(self, c: MemformerConfig, count: int, decoder: bool):
        super().__init__()
        self.layers = nn.ModuleList(_Layer(c, decoder) for _ in range(count))
        self.norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps)


class _SlotMemory(nn.Module):
    def __init__(self, c: MemformerConfig):
        super().__init__()
        self.v_bias = nn.Parameter(torch.zeros(c.slots, c.d_model))


class _Writer(nn.Module):
    """Slot attention with the raw self-value (memformer.md §2.4); BMN is applied by the model."""

    def __init__(self, c: MemformerConfig):
        super().__init__()
        self.q_proj = nn.Linear(c.d_model, c.d_model, bias=False)
        self.k_proj = nn.Linear(c.d_model, c.d_model, bias=False)
        self.v_proj = nn.Linear(c.d_model, c.d_model, bias=False)


class Memformer(nn.Module):
    kind = "memformer"

    def __init__(self, config: MemformerConfig):
        super().__init__()
        c = self.config = config
        self.embed = nn.Embedding(c.vocab, c.d_model)
        self.memory = _SlotMemory(c)
        self.writer = _Writer(c)
        self.encoder = _Stack(c, c.encoder_layers, decoder=False)
        self.decoder = _Stack(c, c.decoder_layers, decoder=True)
        self.lm_head = None if c.tie_embeddings else nn.Linear(c.d_model, c.vocab, bias=False)
        self.register_buffer("positions", self._sinusoidal_positions(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """mnemo's initialisation distributions (not its exact values: those come from its own RNG)."""
        c = self.config
        init_like_mnemo(self, c.init_std, {"memory.v_bias": c.bias_init_norm / math.sqrt(c.d_model)})

    def _sinusoidal_positions(self) -> torch.Tensor:
        """scale·PE(p, i) for p = 1..L: sin(p/10000^{2⌊i/2⌋/d}) at even i, cos at odd i."""
        c = self.config
        L, d = c.segment_length, c.d_model
        pe = torch.zeros(L, d, dtype=torch.float64)
        for p in range(L):
            for i in range(d):
                freq = math.pow(10000.0, -float(i - i % 2) / float(d))
                angle = float(p + 1) * freq
                pe[p, i] = c.resolved_position_scale() * (math.sin(angle) if i % 2 == 0 else math.cos(angle))
        return pe

    # ---- state ------------------------------------------------------------------------------
    def initial_slots(self) -> torch.Tensor:
        """normalize(v) [K, d], differentiable in v."""
        return l2_normalize(self.memory.v_bias)

    def initial_state(self, batch: int) -> torch.Tensor:
        """`batch` fresh streams [batch, K, d] (a value: detached from v, as mnemo's initial_state)."""
        with torch.no_grad():
            return self.initial_slots().unsqueeze(0).expand(batch, -1, -1).clone()

    # ---- pieces -----------------------------------------------------------------------------
    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        L = ids.shape[1]
        return self.embed(ids) + self.positions[:L].to(self.embed.weight.dtype)

    def effective_memory(self, memory: torch.Tensor, reset: Optional[Sequence[int]] = None) -> torch.Tensor:
        if reset is None or not any(reset):
            return memory
        flags = torch.tensor([bool(r) for r in reset], device=memory.device).view(-1, 1, 1)
        return torch.where(flags, self.initial_slots().unsqueeze(0).expand_as(memory), memory)

    def write(self, memory: torch.Tensor, hidden: torch.Tensor, padding: Optional[torch.Tensor]) -> torch.Tensor:
        """normalize(m' + v), m'_i = p_{i,0} m_i + Σ_l p_{i,l} V_x[l],
        p_i = softmax([q_i·k_i, q_i·K_x] / (τ√d_h)), q = γ M W_Q, k = γ M W_K, K_x = H W_K, V_x = H W_V."""
        c = self.config
        heads, dh = c.heads, c.d_model // c.heads
        gamma = c.resolved_slot_scale()
        w = self.writer

        def split(x):
            return x.view(x.shape[0], x.shape[1], heads, dh).transpose(1, 2)

        q, ks = split(w.q_proj(gamma * memory)), split(w.k_proj(gamma * memory))
        kx, vx = split(w.k_proj(hidden)), split(w.v_proj(hidden))
        m = split(memory)
        scale = 1.0 / (c.temperature * math.sqrt(dh))
        z_self = (q * ks).sum(-1, keepdim=True) * scale               # [b, h, K, 1]
        z_tok = torch.matmul(q, kx.transpose(-1, -2)) * scale          # [b, h, K, L]
        if padding is not None:
            z_tok = z_tok.masked_fill(padding.bool().view(padding.shape[0], 1, 1, -1), float("-inf"))
        p = torch.softmax(torch.cat([z_self, z_tok], dim=-1), dim=-1)
        out = p[..., :1] * m + torch.matmul(p[..., 1:], vx)
        m_prime = out.transpose(1, 2).reshape(memory.shape)
        return l2_normalize(m_prime + self.memory.v_bias)

    def encode(self, tokens: torch.Tensor, memory: torch.Tensor, padding: Optional[torch.Tensor] = None,
               reset: Optional[Sequence[int]] = None):
        """(H_t, M_{t+1}) for segment `tokens` [batch, L] from memory [batch, K, d]."""
        m = self.effective_memory(memory, reset)
        slots = m * self.config.resolved_slot_scale()
        x = self._embed(tokens)
        for layer in self.encoder.layers:
            a = layer.self_attn_norm(x)
            x = x + layer.self_attn(a, a, key_padding=padding)
            x = x + layer.mem_read(layer.mem_read_norm(x), slots)
            x = x + layer.ffn(layer.ffn_norm(x))
        hidden = self.encoder.norm(x)
        return hidden, self.write(m, hidden, padding)

    def decode(self, hidden: torch.Tensor, target: torch.Tensor, hidden_padding: Optional[torch.Tensor] = None,
               target_padding: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Teacher-forced logits [batch, L, vocab] for `target`: decoder input [BOS, target_{1..L−1}]."""
        b = target.shape[0]
        bos = torch.full((b, 1), self.config.bos_id, dtype=target.dtype, device=target.device)
        ids = torch.cat([bos, target[:, :-1]], dim=1)
        self_pad = None
        if target_padding is not None:
            self_pad = torch.cat([torch.zeros_like(target_padding[:, :1]), target_padding[:, :-1]], dim=1)
        y = self._embed(ids)
        for layer in self.decoder.layers:
            a = layer.self_attn_norm(y)
            y = y + layer.self_attn(a, a, causal=True, key_padding=self_pad)
            y = y + layer.cross_attn(layer.cross_attn_norm(y), hidden, key_padding=hidden_padding)
            y = y + layer.ffn(layer.ffn_norm(y))
        y = self.decoder.norm(y)
        return self.lm_head(y) if self.lm_head is not None else torch.matmul(y, self.embed.weight.t())

    def loss(self, logits: torch.Tensor, target: torch.Tensor, padding: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Mean cross-entropy over the non-padded target tokens (Memformer::loss)."""
        t = target.long()
        if padding is not None:
            t = t.masked_fill(padding.bool(), -100)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1), ignore_index=-100)

    def step(self, state: torch.Tensor, tokens: torch.Tensor, target: Optional[torch.Tensor] = None,
             padding: Optional[torch.Tensor] = None, target_padding: Optional[torch.Tensor] = None,
             reset: Optional[Sequence[int]] = None) -> MemformerStep:
        """One segment: encoder + writer, and the decoder's logits for `target` when given."""
        hidden, next_state = self.encode(tokens, state, padding, reset)
        logits = None if target is None else self.decode(hidden, target, padding, target_padding)
        return MemformerStep(hidden, next_state, logits)
