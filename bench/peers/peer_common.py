"""Shared by the PyTorch peers in bench/peers/: eager vs torch.compile variants and spread figures.

A peer runs each case in the variants named by --variants (comma list of eager, compile). The
compile variant wraps the callables in torch.compile (default inductor backend, which on the CPU
writes and builds C++ with the system compiler); if that is impossible (torch < 2.0, no compiler,
a failure while compiling) the variant records the reason instead of a time and the run goes on.
"""
import statistics
import time

VARIANTS = ("eager", "compile")


def parse_variants(text):
    names = [v for v in text.split(",") if v]
    for v in names:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant '{v}' (have {', '.join(VARIANTS)})")
    return names


def compiler(variant):
    """The wrapper for a callable in this variant, or raises RuntimeError saying why not."""
    import torch
    if variant == "eager":
        return lambda fn: fn
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch {torch.__version__} has no torch.compile")
    return lambda fn: torch.compile(fn)


DTYPES = ("float32", "bfloat16")


def torch_dtype(name):
    """The torch dtype of --dtype NAME: float32 (the default of every peer) or bfloat16, the peer of
    mnemo's bfloat16 models (parameters, buffers and activations in bfloat16; PyTorch picks its own
    accumulation, fp32 in its oneDNN/MKL bfloat16 GEMMs)."""
    import torch
    if name not in DTYPES:
        raise SystemExit(f"unknown dtype '{name}' (have {', '.join(DTYPES)})")
    return getattr(torch, name)


def spread(times_ms):
    """Median, min, max and the relative half-range of a list of per-repetition times (ms)."""
    med = statistics.median(times_ms)
    lo, hi = min(times_ms), max(times_ms)
    return {"median_ms": med, "min_ms": lo, "max_ms": hi,
            "half_range_pct": 100.0 * (hi - lo) / 2.0 / med if med > 0 else float("nan"),
            "times_ms": list(times_ms)}


def first_call_ms(fn):
    """Runs fn once and returns its wall time in ms (for the compile variant: the compile time)."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def session_facts():
    import os
    import torch
    return {"torch_version": torch.__version__, "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "mkldnn": bool(torch.backends.mkldnn.is_available()),
            "mkl": bool(torch.backends.mkl.is_available())}
