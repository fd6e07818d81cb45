#!/usr/bin/env python3
"""PyTorch peers of bench/cuda/bench_models.cu on the GPU (issue 8, item 6), eager and
torch.compile(mode="reduce-overhead") (CUDA graphs), timed the same way: every timed call ends
with torch.cuda.synchronize().

Cases (the models are those of the CPU peers, memformer_cpu.py and infinite_former_cpu.py, moved
to the GPU; shapes as in the C++ benchmark):
  memformer_step   streaming step: encoder + writer + BMN + teacher-forced logits, the memory
                   fed back; B1 L64 d256 h4 ffn1024 K64, 4+4 layers, vocab 256, fp32; --steps
                   steps per timed call (as BM_MemformerStreamGraph's 32 pushes per sync)
  memformer_bptt4  four steps with the loss of each, one backward through all of them (BPTT:
                   the gradients MRBP computes), B16 L128 d512 h8 ffn2048 K64, 4+8 layers, vocab
                   8192, bf16
  ltm              ∞-former long-term memory: update + read forward and backward, B8 L512 d512
                   h8 N512, fp32
The MHA case runs through attention_cpu.py --device cuda --dtype bf16 --impls sdpa (device_check.sh).

  python bench/peers/models_cuda.py --variants eager,compile --json OUT.json
A variant that cannot run (no GPU, torch.compile failing) is recorded with its reason.
NOT YET RUN ON A GPU.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

import infinite_former_cpu as ifc
import memformer_cpu as mfc
from peer_common import parse_variants, spread


def configure_memformer(**shape):
    """The CPU peer's module-level shape constants (read at construction and call time)."""
    for k, v in shape.items():
        setattr(mfc, k, v)
    mfc.GAMMA = math.sqrt(mfc.D)


def wrap(fn, variant):
    if variant == "eager":
        return fn
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
    return torch.compile(fn, mode="reduce-overhead")


def mark_step():
    """Tells torch's CUDA-graph trees that a new iteration begins (outputs of the last may be reused)."""
    if hasattr(torch, "compiler") and hasattr(torch.compiler, "cudagraph_mark_step_begin"):
        torch.compiler.cudagraph_mark_step_begin()


def timed(fn, warmup, reps):
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(max(warmup - 1, 0)):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    stats = spread(times)
    stats["first_call_ms"] = first_ms
    return stats


def memformer_step_case(variant, steps):
    configure_memformer(B=1, L=64, D=256, H=4, FF=1024, K=64, N_ENC=4, N_DEC=4, V=256)
    torch.manual_seed(0)
    model = mfc.Memformer().cuda().eval()
    encode, decode = wrap(model.encode, variant), wrap(model.decode, variant)
    segs = [torch.randint(0, mfc.V, (mfc.B, mfc.L), device="cuda") for _ in range(8)]
    state = {"m": model.initial_memory(), "i": 0}

    def run():
        with torch.no_grad():
            for _ in range(steps):
                mark_step()
                i = state["i"]
                h, m = encode(segs[i % 8], state["m"])
                decode(h, segs[(i + 1) % 8])
                state["m"], state["i"] = m.clone(), i + 1

    return run


def memformer_bptt_case(variant):
    configure_memformer(B=16, L=128, D=512, H=8, FF=2048, K=64, N_ENC=4, N_DEC=8, V=8192)
    torch.manual_seed(0)
    model = mfc.Memformer().cuda().to(torch.bfloat16).train()
    encode, decode = wrap(model.encode, variant), wrap(model.decode, variant)
    segs = [torch.randint(0, mfc.V, (mfc.B, mfc.L), device="cuda") for _ in range(5)]

    def run():
        mark_step()
        model.zero_grad(set_to_none=True)
        m = model.initial_memory()
        loss = 0.0
        for t in range(4):
            h, m = encode(segs[t], m)
            logits = decode(h, segs[t + 1])
            loss = loss + F.cross_entropy(logits.float().view(-1, mfc.V), segs[t + 1].view(-1))
        loss.backward()

    return run


def ltm_case(variant):
    B, L, e, h, N = 8, 512, 512, 8, 512
    torch.manual_seed(0)
    ltm = ifc.LongTermMemory(e, h, N, [0.005, 0.01], L, 512, 0.5, 0.5, 1e-4).cuda()  # as the CPU peer
    update, read = wrap(ltm.update, variant), wrap(ltm.read, variant)
    X = torch.randn(B, L, e, device="cuda")
    q = torch.randn(B, h, L, e // h, device="cuda")
    B_prev = torch.randn(B, N, e, device="cuda")

    def run():
        mark_step()
        ltm.zero_grad(set_to_none=True)
        coeffs = update(X, B_prev)
        z = read(coeffs, q)
        z.square().mean().backward()

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="eager,compile", help="comma list of: eager,compile")
    ap.add_argument("--cases", default="memformer_step,memformer_bptt4,ltm")
    ap.add_argument("--steps", type=int, default=32, help="memformer_step: steps per timed call")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    variants = parse_variants(args.variants)
    if torch.cuda.is_available() and hasattr(torch, "set_default_device"):
        torch.set_default_device("cuda")  # the CPU peers create some tensors without a device
    results = {"torch": torch.__version__, "cuda": torch.cuda.is_available(), "variants": variants, "cases": {},
               "unavailable": {}}
    if torch.cuda.is_available():
        results["device"] = torch.cuda.get_device_name(0)
    builders = {"memformer_step": lambda v: memformer_step_case(v, args.steps),
                "memformer_bptt4": memformer_bptt_case, "ltm": ltm_case}
    def save():  # after every case: a run stopped by a time limit keeps what it measured
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)

    for variant in variants:  # every eager case first: compiling is the slow part
        for case in [c for c in args.cases.split(",") if c]:
            key = case if variant == "eager" else f"{case}/{variant}"
            try:
                if not torch.cuda.is_available():
                    raise RuntimeError("no CUDA device")
                stats = timed(builders[case](variant), args.warmup, args.reps)
            except Exception as e:  # recorded, the run goes on
                reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                results["unavailable"][key] = reason
                print(f"{key}: unavailable: {reason}", flush=True)
                save()
                continue
            if case == "memformer_step":
                stats["per_step_ms"] = stats["median_ms"] / args.steps
            results["cases"][key] = stats
            print(f"{key}: median {stats['median_ms']:.3f} ms (min {stats['min_ms']:.3f}, max {stats['max_ms']:.3f}), "
                  f"first call {stats['first_call_ms']:.0f} ms", flush=True)
            save()
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
