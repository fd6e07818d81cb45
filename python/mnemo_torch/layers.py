"""The building blocks both twins share, with mnemo's exact semantics (include/mnemo/nn/):
multi-head attention with causal / key-padding / ALiBi masks and the position-wise feed-forward
block (exact-erf GELU). Linear layers are torch's nn.Linear ([out, in]); model_file.py transposes
them to mnemo's [in, out] on the way in and out."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def masked_softmax(logits: torch.Tensor, masked: Optional[torch.Tensor]) -> torch.Tensor:
    """softmax over the last dimension with `masked` (bool, broadcastable) entries excluded; a row
    with every entry masked is all zeros (mnemo's softmax_forward), not NaN."""
    if masked is None:
        return torch.softmax(logits, dim=-1)
    z = logits.masked_fill(masked, float("-inf"))
    mx = z.amax(dim=-1, keepdim=True).detach()
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    e = torch.exp(z - mx).masked_fill(masked, 0.0)
    total = e.sum(dim=-1, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))


class MultiHeadAttention(nn.Module):
    """mnemo::nn::MultiHeadAttention: Q = Xq W_Q + b_Q, K, V likewise from Xkv, per head
    softmax(Q Kᵀ/√d_h + mask) V, heads concatenated, then W_O + b_O."""

    def __init__(self, d_model: int, heads: int, bias: bool = True):
        super().__init__()
        self.d_model, self.heads, self.head_dim = d_model, heads, d_model // heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.o_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # [batch, heads, len, d_h]

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, _, n, _ = x.shape
        return x.transpose(1, 2).reshape(b, n, self.d_model)

    def query_heads(self, xq: torch.Tensor) -> torch.Tensor:
        """The projected queries in head layout [batch, heads, Lq, d_h] (shared with the ∞-former's LTM read)."""
        return self.split_heads(self.q_proj(xq))

    def attend(self, q: torch.Tensor, xkv: torch.Tensor, causal: bool = False, query_offset: int = 0,
               key_padding: Optional[torch.Tensor] = None, alibi_slopes: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attention of head-layout queries `q` over `xkv` [batch, Lk, d] → [batch, Lq, d]. A key c
        is masked when causal and c > r + query_offset, or key_padding[b, c]; a visible logit is
        S/√d_h − slope_h·(r + query_offset − c) with ALiBi (mnemo/backend/softmax_row_mask.hpp)."""
        k = self.split_heads(self.k_proj(xkv))
        v = self.split_heads(self.v_proj(xkv))
        lq, lk = q.shape[2], k.shape[2]
        logits = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.head_dim))
        rows = torch.arange(lq, device=q.device).view(lq, 1) + query_offset
        cols = torch.arange(lk, device=q.device).view(1, lk)
        if alibi_slopes is not None:
            logits = logits - alibi_slopes.view(1, -1, 1, 1) * (rows - cols).to(logits.dtype)
        masked = None
        if causal:
            masked = (cols > rows).view(1, 1, lq, lk)
        if key_padding is not None:
            pad = key_padding.bool().view(key_padding.shape[0], 1, 1, lk)
            masked = pad if masked is None else (masked | pad)
        probs = masked_softmax(logits, masked)
        return self.o_proj(self.merge_heads(torch.matmul(probs, v)))

    def forward(self, xq: torch.Tensor, xkv: torch.Tensor, **mask) -> torch.Tensor:
        return self.attend(self.query_heads(xq), xkv, **mask)


class FeedForward(nn.Module):
    """FFN(x) = GELU(x W₁ + b₁) W₂ + b₂ with the exact (erf) GELU."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_ff)
        self.fc2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def l2_normalize(u: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """u / max(||u||, eps) over the last dimension (mnemo's l2_normalize)."""
    n = torch.linalg.vector_norm(u, dim=-1, keepdim=True)
    return u / torch.clamp(n, min=eps)


def init_like_mnemo(module: nn.Module, std: float, special: Optional[dict] = None) -> None:
    """mnemo's initialisation distributions (not its values, which come from its own RNG): layer-norm
    weights 1, biases 0, every other parameter N(0, std²); `special` maps a name to its own std."""
    special = special or {}
    norms = {f"{prefix}.weight".lstrip(".") for prefix, m in module.named_modules() if isinstance(m, nn.LayerNorm)}
    for name, p in module.named_parameters():
        if name in special:
            nn.init.normal_(p, std=special[name])
        elif name in norms:
            nn.init.ones_(p)
        elif name.endswith(".bias"):
            nn.init.zeros_(p)
        else:
            nn.init.normal_(p, std=std)
