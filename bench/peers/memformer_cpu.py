#!/usr/bin/env python3
"""PyTorch eager peer of bench/cpu/bench_memformer.cpp's streaming cases (issue 3, item 6).

The same Memformer as models::Memformer<float, Cpu> (memformer.md §2: pre-LN encoder with a
memory reader in every layer, slot-attention writer with temperature and raw self-value, BMN,
decoder with causal self-attention and cross-attention, tied vocabulary head), written the
straightforward way: nn.Linear / nn.LayerNorm / F.softmax in eager mode, no TorchScript, no
fused kernels. Shapes: B=1, L=64, d=256, h=4, ffn=1024, K=64, 4 encoder + 4 decoder layers,
vocab 256.

Cases (ms per call, the median of --reps timed calls after --warmup untimed ones):
  step  encoder + writer + BMN + teacher-forced decoder logits for one segment (≈1.1 GFLOP)
  read  encoder + writer + BMN only
  construct  building the model and drawing its weights (5 builds; eager only)

--dtype bfloat16 runs the model (parameters and buffers, hence every activation) in bfloat16: the
peer of BM_Bf16StreamStep (bench/cpu/bench_bf16.cpp); the default is float32.

Variants (--variants, comma list of eager, compile; default eager): compile wraps encode and
decode in torch.compile (inductor, which builds C++ with the system compiler on the CPU); the
first call, which compiles, is warm-up and its time is reported as compile_ms. A variant that
cannot compile is reported with its reason and the run goes on. Per case: median, min, max.

Run with Debian's PyTorch: /usr/bin/python3 bench/peers/memformer_cpu.py [--threads 2] [--json FILE]
Run with PyPI torch, both variants:
  OMP_WAIT_POLICY=passive /work/torchvenv/bin/python bench/peers/memformer_cpu.py --variants eager,compile
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_common import DTYPES, compiler, first_call_ms, parse_variants, session_facts, spread, torch_dtype

B, L, D, H, FF, K, N_ENC, N_DEC, V = 1, 64, 256, 4, 1024, 64, 4, 4, 256
TAU, GAMMA = 0.5, math.sqrt(D)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))

    def forward(self, xq, xkv, causal=False):
        b, lq, _ = xq.shape
        lk = xkv.shape[1]
        dh = D // H
        q = self.q(xq).view(b, lq, H, dh).transpose(1, 2)
        k = self.k(xkv).view(b, lk, H, dh).transpose(1, 2)
        v = self.v(xkv).view(b, lk, H, dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if causal:
            s = s.masked_fill(torch.ones(lq, lk, dtype=torch.bool).triu(1), float("-inf"))
        o = F.softmax(s, dim=-1) @ v
        return self.o(o.transpose(1, 2).reshape(b, lq, D))


class FeedForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(D, FF), nn.Linear(FF, D)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.na, self.nb, self.nc = nn.LayerNorm(D), nn.LayerNorm(D), nn.LayerNorm(D)
        self.a, self.b, self.ffn = Attention(), Attention(), FeedForward()


class Memformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.enc = nn.ModuleList(Layer() for _ in range(N_ENC))
        self.dec = nn.ModuleList(Layer() for _ in range(N_DEC))
        self.enc_norm, self.dec_norm = nn.LayerNorm(D), nn.LayerNorm(D)
        self.wq, self.wk, self.wv = (nn.Linear(D, D, bias=False) for _ in range(3))
        self.v_bias = nn.Parameter(torch.randn(K, D) * 0.1 / math.sqrt(D))
        pos = torch.arange(1, L + 1, dtype=torch.float32)[:, None]
        i = torch.arange(D)
        freq = torch.pow(10000.0, -(i - i % 2).float() / D)
        pe = torch.where(i % 2 == 0, torch.sin(pos * freq), torch.cos(pos * freq))
        self.register_buffer("pe", pe)

    def initial_memory(self):
        return F.normalize(self.v_bias, dim=-1).expand(B, K, D).contiguous()

    def write(self, m, h):
        dh = D // H
        q = (GAMMA * self.wq(m)).view(B, K, H, dh).transpose(1, 2)      # B,H,K,dh
        ks = (GAMMA * self.wk(m)).view(B, K, H, dh).transpose(1, 2)
        kx = self.wk(h).view(B, L, H, dh).transpose(1, 2)               # B,H,L,dh
        vx = self.wv(h).view(B, L, H, dh).transpose(1, 2)
        z = torch.cat([(q * ks).sum(-1, keepdim=True), q @ kx.transpose(-1, -2)], dim=-1)
        p = F.softmax(z / (TAU * math.sqrt(dh)), dim=-1)
        mh = m.view(B, K, H, dh).transpose(1, 2)
        out = p[..., :1] * mh + p[..., 1:] @ vx
        return F.normalize(out.transpose(1, 2).reshape(B, K, D) + self.v_bias, dim=-1)

    def encode(self, tokens, m):
        x = self.embed(tokens) + self.pe
        slots = GAMMA * m
        for layer in self.enc:
            a = layer.na(x)
            x = x + layer.a(a, a)
            x = x + layer.b(layer.nb(x), slots)
            x = x + layer.ffn(layer.nc(x))
        h = self.enc_norm(x)
        return h, self.write(m, h)

    def decode(self, h, target):
        inp = torch.cat([torch.zeros(B, 1, dtype=torch.long), target[:, :-1]], dim=1)
        y = self.embed(inp) + self.pe
        for layer in self.dec:
            a = layer.na(y)
            y = y + layer.a(a, a, causal=True)
            y = y + layer.b(layer.nb(y), h)
            y = y + layer.ffn(layer.nc(y))
        return self.dec_norm(y) @ self.embed.weight.t()


def time_case(fn, warmup, reps):
    compile_ms = first_call_ms(fn)  # the first call compiles in the compile variant
    for _ in range(warmup - 1):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return compile_ms, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--json", default="")
    ap.add_argument("--variants", default="eager", help="comma list of: eager,compile")
    ap.add_argument("--dtype", default="float32", choices=DTYPES, help="the model's dtype (parameters, buffers)")
    args = ap.parse_args()
    dtype = torch_dtype(args.dtype)
    variants = parse_variants(args.variants)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def build():
        m = Memformer().eval()
        for p in m.parameters():
            if p.dim() == 2 and p is not m.v_bias:
                nn.init.normal_(p, std=0.02)
        return m.to(dtype)

    # construct: building the model and drawing its weights (the peer of BM_MemformerConstruct).
    construct_times = []
    for _ in range(5):
        t0 = time.perf_counter()
        build()
        construct_times.append((time.perf_counter() - t0) * 1e3)
    torch.manual_seed(0)  # the timed model's weights as before the construct case was added
    model = build()
    segs = [torch.randint(0, V, (B, L)) for _ in range(8)]

    def cases(encode, decode):
        state = {"m": model.initial_memory(), "i": 0}

        def step():
            i = state["i"]
            h, m = encode(segs[i % 8], state["m"])
            logits = decode(h, segs[(i + 1) % 8])
            state["m"], state["i"] = m, i + 1
            return logits

        def read():
            i = state["i"]
            _, state["m"] = encode(segs[i % 8], state["m"])
            state["i"] = i + 1

        return (("step", step), ("read", read))

    results = {"torch": torch.__version__, "dtype": args.dtype, "threads": torch.get_num_threads(), "session": session_facts(),
               "variants": variants, "cases": {"construct": spread(construct_times)}, "unavailable": {}}
    c = results["cases"]["construct"]
    print(f"construct: median {c['median_ms']:.2f} ms (min {c['min_ms']:.2f}, max {c['max_ms']:.2f}) over 5 builds")
    with torch.no_grad():
        for variant in variants:
            try:
                wrap = compiler(variant)
                encode, decode = wrap(model.encode), wrap(model.decode)
            except RuntimeError as e:
                results["unavailable"][variant] = str(e)
                print(f"{variant}: unavailable: {e}")
                continue
            for name, fn in cases(encode, decode):
                key = name if variant == "eager" else f"{name}/{variant}"
                try:
                    compile_ms, times = time_case(fn, max(args.warmup, 1), args.reps)
                except Exception as e:  # a compile failure surfaces at the first call
                    if variant == "eager":
                        raise
                    reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    results["unavailable"][key] = reason
                    print(f"{key}: compile failed: {reason}")
                    continue
                stats = spread(times)
                stats["first_call_ms"] = compile_ms
                results["cases"][key] = stats
                print(f"{key}: median {stats['median_ms']:.2f} ms (min {stats['min_ms']:.2f}, max "
                      f"{stats['max_ms']:.2f}) over {args.reps} runs, first call {compile_ms:.0f} ms "
                      f"(torch {torch.__version__}, {torch.get_num_threads()} threads)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
