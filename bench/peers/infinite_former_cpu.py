#!/usr/bin/env python3
"""The peer of bench/cpu/bench_infinite_former.cpp: one segment's long-term-memory update + read
of the ∞-former (infinite_former.md §4-§6) written the straightforward way in PyTorch eager, on the
CPU: B = 8 rows, segment 512, d 512, 8 heads, N 512, M 512, float, LM preset of the memory
(widths {0.005, 0.01}, lambda 0.5, tau 0.5), gate on, no sticky memories.

update: X~ = X * sigmoid(Conv1d(X));  X_past = Psi_s B_prev;  B = G_inf^T [X_past ; X~]
read:   K = B W_K, V = B W_V;  s = q K_h^T / sqrt(d_h);  mu = sigmoid(s w_mu);
        sigma^2 = max(softplus(s w_sigma), eps);  r_j = N(mu; mu_j, sigma^2 + sigma_j^2);
        c = r V_h;  Z = concat_h(c) W_O
The cost does not depend on how many tokens the state summarises, so one state is timed.
Prints JSON: median wall-clock milliseconds per segment and seconds per token over --repeats runs,
and the same in process CPU time (all threads; the robust figure on a shared machine).

--dtype bfloat16 runs the module, its buffers and the inputs in bfloat16 (the peer of
BM_LtmPrecision/bf16 in bench/cpu/bench_bf16.cpp); the default is float32.

Variants (--variants, comma list of eager, compile; default eager): compile wraps update and read
in torch.compile (inductor, which builds C++ with the system compiler). The default output (one
JSON object, as before) is the first variant's; with several, "variants" holds each one's figures
(median, min, max per segment) and "best" names the fastest. A variant that cannot compile is
listed under "unavailable" with its reason.

Run: /usr/bin/python3 bench/peers/infinite_former_cpu.py --threads 2
     OMP_WAIT_POLICY=passive /work/torchvenv/bin/python bench/peers/infinite_former_cpu.py --variants eager,compile
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_common import DTYPES, compiler, parse_variants, session_facts, spread, torch_dtype


def basis(n, widths):
    """Centres and widths of the interleaved Gaussian basis (spec section 2)."""
    w = len(widths)
    centres = torch.linspace(0, 1, n // w, dtype=torch.float64)
    mu = centres.repeat_interleave(w)
    sigma = torch.tensor(widths, dtype=torch.float64).repeat(n // w)
    return mu, sigma


def psi(t, mu, sigma):
    """psi_j(t) for positions t: [len(t), N]."""
    return torch.exp(-0.5 * ((t[:, None] - mu[None, :]) / sigma[None, :]) ** 2) / (sigma[None, :] * math.sqrt(2 * math.pi))


def contraction_operator(L, M, tau, lam, mu, sigma):
    """G_inf rows of the real positions (spec section 5.2), ridge regression in double."""
    u = torch.cat([torch.arange(1, M + 1, dtype=torch.float64) * tau / M,
                   tau + (1 - tau) * torch.arange(1, L + 1, dtype=torch.float64) / L])
    delta = 1.0 / (2 * L + M)
    g = torch.linspace(-0.5 + delta, 1.5 - delta, 2 * (M + L), dtype=torch.float64)
    left, right = g[g < 0], g[g > 1]
    pos = torch.cat([left, u, right])
    F_ = psi(pos, mu, sigma).T  # N x T
    A = F_ @ F_.T + lam * torch.eye(mu.numel(), dtype=torch.float64)
    G = torch.linalg.solve(A, F_).T  # T x N
    return G[left.numel():left.numel() + M + L]


class LongTermMemory(nn.Module):
    def __init__(self, e, heads, n, widths, L, M, tau, lam, eps):
        super().__init__()
        self.e, self.h, self.dh, self.n, self.eps = e, heads, e // heads, n, eps
        self.conv = nn.Conv1d(e, e, 3, padding=1)
        self.proj_key = nn.Linear(e, e, bias=False)
        self.proj_value = nn.Linear(e, e, bias=False)
        self.proj_out = nn.Linear(e, e, bias=False)
        self.mu = nn.Linear(n, 1, bias=False)
        self.sigma = nn.Linear(n, 1, bias=False)
        mu, sigma = basis(n, widths)
        self.register_buffer("basis_mu", mu.float())
        self.register_buffer("basis_sigma2", (sigma ** 2).float())
        G = contraction_operator(L, M, tau, lam, mu, sigma)
        self.register_buffer("G_inf", G.float())
        self.register_buffer("psi_s", psi(torch.arange(1, M + 1, dtype=torch.float64) / M, mu, sigma).float())

    def update(self, X, B_prev):
        gate = torch.sigmoid(self.conv(X.transpose(1, 2))).transpose(1, 2)
        X_tilde = X * gate
        X_past = torch.matmul(self.psi_s, B_prev)                      # [B, M, e]
        return torch.matmul(self.G_inf.T, torch.cat([X_past, X_tilde], 1))  # [B, N, e]

    def read(self, B, q):
        nb, lq = q.shape[0], q.shape[2]
        K = self.proj_key(B).view(nb, self.n, self.h, self.dh).transpose(1, 2)    # [B, H, N, dh]
        V = self.proj_value(B).view(nb, self.n, self.h, self.dh).transpose(1, 2)
        s = torch.matmul(q, K.transpose(-1, -2)) / math.sqrt(self.dh)             # [B, H, Lq, N]
        mu = torch.sigmoid(self.mu(s))                                            # [B, H, Lq, 1]
        sigma2 = torch.clamp(F.softplus(self.sigma(s)), min=self.eps)
        var = sigma2 + self.basis_sigma2                                          # [B, H, Lq, N]
        r = torch.exp(-(mu - self.basis_mu) ** 2 / (2 * var)) / torch.sqrt(2 * math.pi * var)
        c = torch.matmul(r, V)                                                    # [B, H, Lq, dh]
        return self.proj_out(c.transpose(1, 2).reshape(nb, lq, self.e))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--variants", default="eager", help="comma list of: eager,compile")
    p.add_argument("--dtype", default="float32", choices=DTYPES, help="the module's and the inputs' dtype")
    args = p.parse_args()
    dtype = torch_dtype(args.dtype)
    variants = parse_variants(args.variants)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, L, e, H, N, M = args.batch, 512, 512, 8, 512, 512
    ltm = LongTermMemory(e, H, N, [0.005, 0.01], L, M, 0.5, 0.5, 1e-4).eval()
    for prm in ltm.parameters():
        nn.init.normal_(prm, std=0.02)
    ltm = ltm.to(dtype)  # parameters and the basis/operator buffers
    X = torch.randn(B, L, e).to(dtype)
    q = torch.randn(B, H, L, e // H).to(dtype)
    by_variant, unavailable = {}, {}
    for variant in variants:
        try:
            wrap = compiler(variant)
            update, read = wrap(ltm.update), wrap(ltm.read)
            by_variant[variant] = time_variant(update, read, X, q, B, N, e, args.warmup, args.repeats)
        except Exception as err:  # torch.compile missing, or a compile failure at the first call
            if variant == "eager":
                raise
            unavailable[variant] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    if not by_variant:
        raise SystemExit(f"no variant ran: {unavailable}")
    first = by_variant[next(v for v in variants if v in by_variant)]
    best = min(by_variant, key=lambda v: by_variant[v]["ms_per_segment"])
    print(json.dumps({"case": "ltm_read_update", "dtype": args.dtype, "batch": B, "segment": L, "d_model": e, "heads": H, "basis": N,
                      "samples": M, "threads": args.threads, "torch": torch.__version__, **first,
                      "variants": by_variant, "best": best, "unavailable": unavailable,
                      "session": session_facts()}))


def time_variant(update, read, X, q, B, N, e, warmup, repeats):
    """Timed update + read of one segment: median wall and process CPU ms over repeats."""
    L = X.shape[1]
    state = torch.zeros(B, N, e, dtype=X.dtype)
    times, cpu_times = [], []
    with torch.no_grad():
        t_first = time.perf_counter()
        state = update(X, state)  # a non-empty memory (compiles update in the compile variant)
        read(state, q)
        first_ms = (time.perf_counter() - t_first) * 1e3
        for i in range(warmup + repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            state = update(X, state)
            z = read(state, q)
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if i >= warmup:
                times.append(dt)
                cpu_times.append(dc)
    ms = statistics.median(times) * 1e3
    cpu_ms = statistics.median(cpu_times) * 1e3
    stats = spread([t * 1e3 for t in times])
    return {"ms_per_segment": round(ms, 3), "s_per_token": ms / 1e3 / (B * L),
            "cpu_ms_per_segment": round(cpu_ms, 3), "cpu_s_per_token": cpu_ms / 1e3 / (B * L),
            "min_ms": round(stats["min_ms"], 3), "max_ms": round(stats["max_ms"], 3),
            "first_call_ms": round(first_ms, 1),
            "all_ms": [round(t * 1e3, 3) for t in times], "checksum": float(z.abs().mean())}


if __name__ == "__main__":
    main()
