#!/usr/bin/env python3
"""PyTorch peers of bench/cpu/bench_attention.cpp: causal multi-head self-attention, forward
(under torch.no_grad()) and forward+backward, at the foundation issue's shapes.

Implementations (each a module a user would write):
  manual  Linear q/k/v/o, view/transpose to heads, Q·Kᵀ·scale, masked_fill(−inf), softmax, ·V,
          merge heads, Linear o;
  nn_mha  torch.nn.MultiheadAttention(batch_first=True) with a causal attn_mask;
  sdpa    Linear q/k/v/o around torch.nn.functional.scaled_dot_product_attention(is_causal=True)
          (only where this torch has it, 2.0 and later).

Variants (--variants, comma list): eager (default) and compile, the same module wrapped in
torch.compile (inductor; on the CPU it builds C++ with the system compiler). A compiled row's
impl is named e.g. "sdpa/compile"; where compiling fails or torch has no torch.compile the case is
listed under "unavailable" with the reason, and the run goes on. Each row also carries min, max and
the relative half-range of its repetitions.

Timing, as Google Benchmark does on our side: after warm-up, each repetition runs the case in a
loop until --min-time seconds have passed and records the mean time per iteration; the result
is the median over --repetitions. CPU: wall clock (time.perf_counter). CUDA: CUDA events around
the loop. FLOPs are counted as in bench_attention.cpp: forward = 8·B·L·d² + 4·B·L²·d (dense),
forward+backward = 3 × forward; the input requires a gradient, like ours.

Prints one JSON object (and writes it to --out when given).

  python3 bench/peers/attention_cpu.py --threads 2                 # Debian's CPU torch
  python3 bench/peers/attention_cpu.py --device cuda --dtype bf16  # on the GPU machine
  OMP_WAIT_POLICY=passive /work/torchvenv/bin/python bench/peers/attention_cpu.py --threads 2 \
      --impls sdpa,manual --variants eager,compile                 # PyPI torch, both variants
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_common import compiler, parse_variants, session_facts, spread

SHAPES = {"large": (16, 512, 512, 8), "small": (1, 64, 256, 4)}  # (B, L, d, h)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def forward_flops(b, l, d):
    return 8.0 * b * l * d * d + 4.0 * b * l * l * d


class ManualAttention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h, self.dh = h, d // h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        b, l, d = x.shape
        q = self.q(x).view(b, l, self.h, self.dh).transpose(1, 2)
        k = self.k(x).view(b, l, self.h, self.dh).transpose(1, 2)
        v = self.v(x).view(b, l, self.h, self.dh).transpose(1, 2)
        s = torch.matmul(q, k.transpose(-2, -1)) * (self.dh ** -0.5)
        future = torch.ones(l, l, dtype=torch.bool, device=x.device).triu_(1)
        a = torch.softmax(s.masked_fill(future, float("-inf")), dim=-1)
        o = torch.matmul(a, v).transpose(1, 2).reshape(b, l, d)
        return self.o(o)


class TorchMHA(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.mha = nn.MultiheadAttention(d, h, batch_first=True)

    def forward(self, x):
        l = x.shape[1]
        future = torch.ones(l, l, dtype=torch.bool, device=x.device).triu_(1)
        return self.mha(x, x, x, attn_mask=future, need_weights=False)[0]


class SdpaAttention(ManualAttention):
    def forward(self, x):
        b, l, d = x.shape
        q = self.q(x).view(b, l, self.h, self.dh).transpose(1, 2)
        k = self.k(x).view(b, l, self.h, self.dh).transpose(1, 2)
        v = self.v(x).view(b, l, self.h, self.dh).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o(o.transpose(1, 2).reshape(b, l, d))


IMPLS = {"manual": ManualAttention, "nn_mha": TorchMHA, "sdpa": SdpaAttention}


def available_impls():
    names = ["manual", "nn_mha"]
    if hasattr(F, "scaled_dot_product_attention"):
        names.append("sdpa")
    return names


class Timer:
    """Seconds for a callable run n times: wall clock on the CPU, CUDA events on a GPU."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def run(self, fn, n):
        if self.cuda:
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(n):
                fn()
            stop.record()
            stop.synchronize()
            return start.elapsed_time(stop) * 1e-3
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return time.perf_counter() - t0


def make_step(module, x, dy, mode):
    if mode == "fwd":
        def step():
            with torch.no_grad():
                module(x)
    else:
        def step():
            module(x).backward(dy)
            x.grad = None
            for p in module.parameters():
                p.grad = None
    return step


def measure(step, timer, warmup, repetitions, min_time):
    # Iterations per repetition: enough to fill min_time, judged from the last warm-up run.
    probe = 0.0
    for _ in range(max(warmup, 1)):
        probe = timer.run(step, 1)
    iters = max(1, int(min_time / max(probe, 1e-9)))
    per_iter = []
    for _ in range(repetitions):
        per_iter.append(timer.run(step, iters) / iters)
    return per_iter, iters


def loaded_blas():
    """Shared libraries with 'blas' in their name mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            libs = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
        return sorted(libs)
    except OSError:
        return []


def blas_info():
    for line in torch.__config__.show().splitlines():
        if "BLAS_INFO" in line:
            for part in line.split(","):
                if "BLAS_INFO" in part:
                    return part.split("=")[-1].strip()
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtype", default="fp32", choices=sorted(DTYPES))
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave torch's default)")
    ap.add_argument("--shapes", default="large,small", help="comma list of: " + ",".join(SHAPES))
    ap.add_argument("--impls", default="all", help="comma list of: manual,nn_mha,sdpa (or all)")
    ap.add_argument("--modes", default="fwd,fwdbwd")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (at least 1; the last sizes the loop)")
    ap.add_argument("--repetitions", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition (at least one iteration)")
    ap.add_argument("--variants", default="eager", help="comma list of: eager,compile")
    ap.add_argument("--label", default="", help="free text recorded in the JSON (e.g. which BLAS)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("attention_cpu.py: --device cuda but torch.cuda.is_available() is False")
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    impls = available_impls() if args.impls == "all" else args.impls.split(",")
    for name in impls:
        if name not in IMPLS or name not in available_impls():
            sys.exit(f"attention_cpu.py: implementation '{name}' not available here (have {available_impls()})")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as on our side
        torch.backends.cudnn.allow_tf32 = False

    variants = parse_variants(args.variants)
    timer = Timer(device)
    results, unavailable = [], []
    for shape_name in args.shapes.split(","):
        b, l, d, h = SHAPES[shape_name]
        for impl in impls:
            torch.manual_seed(0)
            module = IMPLS[impl](d, h).to(device=device, dtype=dtype)
            x = torch.randn(b, l, d, device=device, dtype=dtype, requires_grad=True)
            dy = torch.randn(b, l, d, device=device, dtype=dtype)
            for variant in variants:
                label = impl if variant == "eager" else f"{impl}/{variant}"
                try:
                    runner = compiler(variant)(module)
                except RuntimeError as e:
                    unavailable.append({"impl": label, "B": b, "L": l, "d": d, "h": h, "reason": str(e)})
                    print(f"# {label}: unavailable: {e}", file=sys.stderr)
                    continue
                for mode in args.modes.split(","):
                    module.train(mode != "fwd")
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats()
                    try:
                        per_iter, iters = measure(make_step(runner, x, dy, mode), timer,
                                                  args.warmup if variant == "eager" else max(args.warmup, 3),
                                                  args.repetitions, args.min_time)
                    except Exception as e:  # a compile failure surfaces at the first call
                        if variant == "eager":
                            raise
                        reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                        unavailable.append({"impl": label, "mode": mode, "B": b, "L": l, "d": d, "h": h,
                                            "reason": reason})
                        print(f"# {label} {mode}: compile failed: {reason}", file=sys.stderr)
                        continue
                    median = statistics.median(per_iter)
                    flops = forward_flops(b, l, d) * (3.0 if mode == "fwdbwd" else 1.0)
                    stats = spread([t * 1e3 for t in per_iter])
                    row = {"impl": label, "variant": variant, "mode": mode, "B": b, "L": l, "d": d, "h": h,
                           "median_ms": median * 1e3, "times_ms": stats["times_ms"], "min_ms": stats["min_ms"],
                           "max_ms": stats["max_ms"], "half_range_pct": stats["half_range_pct"],
                           "iterations_per_repetition": iters, "gflops": flops / median * 1e-9}
                    if device.type == "cuda":
                        row["peak_MiB"] = torch.cuda.max_memory_allocated() / 2 ** 20
                    results.append(row)
                    print(f"# {label} {mode} B={b} L={l} d={d} h={h}: {median * 1e3:.3f} ms "
                          f"(min {stats['min_ms']:.3f}, max {stats['max_ms']:.3f})", file=sys.stderr)

    report = {
        "torch_version": torch.__version__,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(),
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "blas_info": blas_info(),
        "blas_loaded": loaded_blas(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", ""),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "label": args.label,
        "warmup": args.warmup,
        "repetitions": args.repetitions,
        "min_time_s": args.min_time,
        "variants": variants,
        "session": session_facts(),
        "results": results,
        "unavailable": unavailable,
    }
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
