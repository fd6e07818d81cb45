"""The ∞-former's continuous long-term memory in PyTorch (include/mnemo/memory/, docs/infinite_former.md):
Gaussian RBF basis, ridge-fit and contraction operators (built in float64 exactly as mnemo builds
them), the gated write with contraction (uniform or sticky sample positions) and the continuous
attention read with its variance KL.

    write:  X̃ = X ⊙ sigmoid(Conv1d_k3(X))          (X: detached layer inputs, padded rows zeroed)
            first   B = G_Lᵀ X̃
            later   B = G_newᵀ X̃ + G_oldᵀ Ψ_s B_prev    (B_prev detached; Ψ_s at k/M or sticky)
    read:   K = B W_K, V = B W_V;  s = K_h q/√d_h;  μ = sigmoid(w_μ·s);  σ² = max(softplus(w_σ·s), ε)
            r_j = N(μ; μ_j, σ² + σ_j²);  Z = concat_h(V_hᵀ r) W_O;  KL = ½(σ²/σ₀² − ln(σ²/σ₀²) − 1)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .rng import RngKey

INV_SQRT_2PI = 0.39894228040143267794


@dataclass
class BasisConfig:
    count: int = 512
    widths: List[float] = field(default_factory=lambda: [0.01, 0.05])


@dataclass
class ContinuousMemoryConfig:
    """mnemo::memory::ContinuousMemoryConfig, field for field."""
    basis: BasisConfig = field(default_factory=BasisConfig)
    segment_length: int = 1024
    samples: int = 512
    tau: float = 0.75
    ridge_lambda: float = 1.0
    positions: str = "paper"          # "paper": i/L; "cell_centre": (i − ½)/L
    zero_pad: bool = True
    gate: bool = True
    sigma2_floor: float = 1e-4
    sigma0: float = 0.05
    kl_weight: float = 1e-6
    sticky: bool = False
    sticky_bins: int = 128
    sticky_jitter: bool = False
    reset_every_tokens: int = 0
    init_std: float = 0.02


# ---- operators (float64, as ridge_fit.hpp / continuous_operators.hpp) ------------------------

def basis_centres_widths(basis: BasisConfig):
    W = len(basis.widths)
    centres_per = basis.count // W
    centres, widths = [], []
    for k in range(centres_per):
        for w in range(W):  # interleaved: function j = k·W + w
            centres.append(k / (centres_per - 1))
            widths.append(basis.widths[w])
    return torch.tensor(centres, dtype=torch.float64), torch.tensor(widths, dtype=torch.float64)


def basis_values(basis: BasisConfig, positions: List[float]) -> torch.Tensor:
    """Ψ[m, j] = ψ_j(p_m) = exp(−½((p − μ_j)/σ_j)²)/(σ_j√(2π)) in float64."""
    c, s = basis_centres_widths(basis)
    p = torch.tensor(positions, dtype=torch.float64).view(-1, 1)
    z = (p - c.view(1, -1)) / s.view(1, -1)
    return torch.exp(-0.5 * z * z) * INV_SQRT_2PI / s.view(1, -1)


def segment_lattice(length: int, positions: str, zero_pad: bool):
    pads = length // 2 if zero_pad else 0
    shift = 0.5 if positions == "cell_centre" else 0.0
    pos = [(i - shift) / length for i in range(-pads + 1, length + pads + 1)]
    return pos, pads, length


def contraction_lattice(length: int, samples: int, tau: float, zero_pad: bool):
    real = [k * tau / samples for k in range(1, samples + 1)]
    real += [tau + (1.0 - tau) * i / length for i in range(1, length + 1)]
    left, right = [], []
    if zero_pad:
        q2 = 2 * (samples + length)
        delta = 1.0 / (2 * length + samples)
        start, stop = -0.5 + delta, 1.5 - delta
        step = (stop - start) / (q2 - 1)
        for i in range(q2):
            g = start + step * i
            if g < 0:
                left.append(g)
            elif g > 1:
                right.append(g)
    return left + real + right, len(left), len(real)


def ridge_operator_rows(basis: BasisConfig, positions: List[float], lam: float, first: int, count: int) -> torch.Tensor:
    """Rows [first, first+count) of Fᵀ(F Fᵀ + λI)⁻¹ (count × N), a Cholesky solve in float64."""
    psi = basis_values(basis, positions)  # T × N
    A = psi.t() @ psi + lam * torch.eye(basis.count, dtype=torch.float64)
    chol = torch.linalg.cholesky(A)
    z = torch.cholesky_solve(psi[first : first + count].t().contiguous(), chol)
    return z.t().contiguous()


class ContinuousOperators:
    """fit G_L [L, N], fit_new / fit_old (rows of G_inf) [L, N] / [M, N], contract G_oldᵀΨ(k/M) [N, N]."""

    def __init__(self, config: ContinuousMemoryConfig):
        self.config = config
        c, s = basis_centres_widths(config.basis)
        self.centres, self.widths_sq = c, s * s
        self._by_length: Dict[int, Dict[str, torch.Tensor]] = {}

    def for_length(self, length: int) -> Dict[str, torch.Tensor]:
        if length not in self._by_length:
            c = self.config
            pos, first, count = segment_lattice(length, c.positions, c.zero_pad)
            fit = ridge_operator_rows(c.basis, pos, c.ridge_lambda, first, count)
            pos, first, count = contraction_lattice(length, c.samples, c.tau, c.zero_pad)
            inf = ridge_operator_rows(c.basis, pos, c.ridge_lambda, first, count)
            old, new = inf[: c.samples], inf[c.samples :]
            uniform = [k / c.samples for k in range(1, c.samples + 1)]
            contract = old.t() @ basis_values(c.basis, uniform)
            self._by_length[length] = {"fit": fit, "fit_new": new, "fit_old": old, "contract": contract}
        return self._by_length[length]


# ---- sticky memories (sticky_sampler.hpp) ----------------------------------------------------

def sticky_histogram(mu: List[float], sigma: List[float], bins: int) -> List[float]:
    edges = [d / bins for d in range(bins + 1)]
    edges[0], edges[-1] = -1e-6, 1.0 + 1e-6
    cdf = lambda x: 0.5 * math.erfc(-x * 0.70710678118654752440)
    mass = [0.0] * bins
    for m, s in zip(mu, sigma):
        prev = cdf((edges[0] - m) / s)
        for d in range(bins):
            nxt = cdf((edges[d + 1] - m) / s)
            mass[d] += nxt - prev
            prev = nxt
    return mass


def sample_sticky_positions(mass: List[float], count: int, key: RngKey, jitter: bool) -> List[float]:
    total = sum(mass)  # sequential sum, as normalise_histogram
    p = [m / total if total > 0 else 1.0 / len(mass) for m in mass]
    cdf, acc = [], 0.0
    for v in p:
        acc += v
        cdf.append(acc)
    jitter_key = key.derive("jitter")
    bins = len(p)
    out = []
    for k in range(count):
        u = key.uniform_double(k) * acc
        b = next((i for i, c in enumerate(cdf) if c > u), bins)  # upper_bound
        b = min(bins - 1, b)
        pos = b / bins
        if jitter:
            pos += jitter_key.uniform_double(k) / bins
        out.append(pos)
    return sorted(out)


# ---- state and layer --------------------------------------------------------------------------

@dataclass
class ContinuousState:
    """One layer's long-term memory for `batch` rows (mnemo::memory::ContinuousState)."""
    coefficients: torch.Tensor            # [batch, N, e], detached
    has_memory: List[int]
    tokens_written: List[int]
    key: RngKey
    draws: int = 0
    sticky_mu: Optional[torch.Tensor] = None     # [batch, H·Lq]
    sticky_sigma2: Optional[torch.Tensor] = None
    has_densities: List[int] = field(default_factory=list)

    def reset_rows(self, mask) -> None:
        for b, m in enumerate(mask):
            if m:
                self.coefficients = self.coefficients.clone()
                self.coefficients[b] = 0
                self.has_memory[b] = 0
                self.tokens_written[b] = 0
                self.has_densities[b] = 0

    def clone(self) -> "ContinuousState":
        return ContinuousState(self.coefficients.clone(), list(self.has_memory), list(self.tokens_written), self.key,
                               self.draws, None if self.sticky_mu is None else self.sticky_mu.clone(),
                               None if self.sticky_sigma2 is None else self.sticky_sigma2.clone(), list(self.has_densities))


class ContinuousMemory(nn.Module):
    """Parameters: gate (Conv1d, kernel 3, zero-padded per segment), k_proj, v_proj, o_proj (no
    biases), w_mu, w_sigma [N]. `name` is the mnemo name ("layers.i.ltm"): it keys the sticky sampler."""

    def __init__(self, name: str, d_model: int, heads: int, config: ContinuousMemoryConfig, operators: ContinuousOperators):
        super().__init__()
        self.name, self.config, self.ops = name, config, operators
        self.e, self.h, self.dh, self.n = d_model, heads, d_model // heads, config.basis.count
        self.gate = nn.Conv1d(d_model, d_model, 3, padding=1) if config.gate else None
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model, bias=False)
        self.o_proj = nn.Linear(d_model, d_model, bias=False)
        self.w_mu = nn.Parameter(torch.zeros(self.n))
        self.w_sigma = nn.Parameter(torch.zeros(self.n))

    def initial_state(self, batch: int, seed: int = 0) -> ContinuousState:
        dtype = self.w_mu.dtype
        return ContinuousState(torch.zeros(batch, self.n, self.e, dtype=dtype), [0] * batch, [0] * batch,
                               RngKey(seed, 0).derive(self.name), has_densities=[0] * batch)

    def _op(self, length: int, which: str) -> torch.Tensor:
        return self.ops.for_length(length)[which].to(self.w_mu.dtype)

    def write(self, x: torch.Tensor, padding: Optional[torch.Tensor], state: ContinuousState) -> torch.Tensor:
        """Writes x [batch, L, e] (detached; padded rows written as zeros) and returns the new
        coefficients [batch, N, e], differentiable in the gate; the state keeps them detached."""
        c = self.config
        nb, L, _ = x.shape
        x = x.detach()
        pad = torch.zeros(nb, L, dtype=torch.bool) if padding is None else padding.bool()
        valid = [L - int(pad[b].sum()) for b in range(nb)]
        if c.reset_every_tokens > 0:
            state.reset_rows([int(state.tokens_written[b] >= c.reset_every_tokens) for b in range(nb)])
        mode = ["skip" if valid[b] == 0 else ("contract" if state.has_memory[b] else "first") for b in range(nb)]
        xm = x.masked_fill(pad.unsqueeze(-1), 0.0)
        xt = xm
        if self.gate is not None:
            z = self.gate(xm.transpose(1, 2)).transpose(1, 2)
            xt = xm * torch.sigmoid(z)
        prev = state.coefficients
        rows = []
        sampled = False
        for b in range(nb):
            if mode[b] == "skip":
                rows.append(prev[b])
            elif mode[b] == "first":
                rows.append(self._op(L, "fit").t() @ xt[b])
            else:
                new = self._op(L, "fit_new").t() @ xt[b]
                if c.sticky and state.has_densities[b]:
                    psi = basis_values(c.basis, self._sticky_positions(state, b)).to(prev.dtype)
                    rows.append(new + self._op(L, "fit_old").t() @ (psi @ prev[b]))
                    sampled = True
                else:
                    rows.append(new + self._op(L, "contract") @ prev[b])
        coeffs = torch.stack(rows)
        state.coefficients = coeffs.detach()
        for b in range(nb):
            if mode[b] != "skip":
                state.has_memory[b] = 1
                state.tokens_written[b] += valid[b]
        if sampled:
            state.draws += 1
        return coeffs

    def _sticky_positions(self, state: ContinuousState, b: int) -> List[float]:
        mu = state.sticky_mu[b].tolist()
        sigma = [math.sqrt(v) for v in state.sticky_sigma2[b].tolist()]
        mass = sticky_histogram(mu, sigma, self.config.sticky_bins)
        key = state.key.derive(state.draws).derive(b)
        return sample_sticky_positions(mass, self.config.samples, key, self.config.sticky_jitter)

    def read(self, coefficients: torch.Tensor, q_heads: torch.Tensor, state: ContinuousState):
        """(Z_ltm [batch, Lq, e], Σ KL over the rows with memory, heads and queries)."""
        c = self.config
        batch, _, lq, _ = q_heads.shape
        rows = [b for b in range(batch) if state.has_memory[b]]
        if c.sticky:
            state.has_densities = [0] * batch
        zero_kl = torch.zeros((), dtype=q_heads.dtype)
        if not rows or lq == 0:
            return torch.zeros(batch, lq, self.e, dtype=q_heads.dtype), zero_kl
        idx = torch.tensor(rows)
        bc, q = coefficients.index_select(0, idx), q_heads.index_select(0, idx)
        nb = len(rows)
        heads = lambda t: t.view(nb, self.n, self.h, self.dh).transpose(1, 2)  # [nb, H, N, dh]
        k, v = heads(self.k_proj(bc)), heads(self.v_proj(bc))
        s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.dh))   # [nb, H, Lq, N]
        a, bscore = s @ self.w_mu, s @ self.w_sigma
        mu = torch.sigmoid(a)
        sp = F.softplus(bscore)  # = b above 20, as mnemo
        floor = torch.full_like(sp, c.sigma2_floor)
        sigma2 = torch.where(sp > c.sigma2_floor, sp, floor)
        ratio = sigma2 / (c.sigma0 * c.sigma0)
        kl = (0.5 * (ratio - torch.log(ratio) - 1.0)).sum()
        centres = self.ops.centres.to(q.dtype)
        wsq = self.ops.widths_sq.to(q.dtype)
        var = sigma2.unsqueeze(-1) + wsq
        d = mu.unsqueeze(-1) - centres
        r = torch.exp(-0.5 * d * d / var) * INV_SQRT_2PI * torch.sqrt(1.0 / var)   # [nb, H, Lq, N]
        ctx = torch.matmul(r, v)                                                  # [nb, H, Lq, dh]
        z = self.o_proj(ctx.transpose(1, 2).reshape(nb, lq, self.e))
        out = torch.zeros(batch, lq, self.e, dtype=z.dtype).index_copy(0, idx, z)
        if c.sticky:
            smu = torch.zeros(batch, self.h * lq, dtype=mu.dtype)
            ss2 = torch.zeros(batch, self.h * lq, dtype=mu.dtype)
            smu[idx] = mu.detach().reshape(nb, -1)
            ss2[idx] = sigma2.detach().reshape(nb, -1)
            state.sticky_mu, state.sticky_sigma2 = smu, ss2
            for b in rows:
                state.has_densities[b] = 1
        return out, kl
