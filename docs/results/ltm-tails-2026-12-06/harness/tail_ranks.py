import numpy as np, time
a = np.fromfile('/work/lead/s45/ops.bin', dtype=np.float64)
fn = a[:512*512].reshape(512,512); C = a[512*512:].reshape(512,512)
def band_rows(op, r0, r1, budget):
    lo, hi = op.shape[1], 0
    for r in range(r0, r1):
        row = np.abs(op[r]); cl = np.cumsum(row); cr = np.cumsum(row[::-1])
        first = int(np.sum(cl <= budget)); last = op.shape[1] - int(np.sum(cr <= budget))
        if first < last: lo=min(lo,first); hi=max(hi,last)
    if lo >= hi: return 0, 0
    return lo//16*16, min(op.shape[1], (hi+15)//16*16)
def rank(blk, tol):
    if blk.shape[1] == 0: return 0
    s = np.linalg.svd(blk, compute_uv=False); tail = np.cumsum(s[::-1])[::-1]; return int(np.sum(tail > tol))
for name, op in (("fit_new", fn), ("contract", C)):
    mx = np.abs(op).max(); tol = 2**-30*mx; budget = 0.5*9.313225746154785e-10*mx
    for H in (32, 64):
        for theta in (0.3, 0.1, 0.03, 0.01, 0.003):
            dense=0; tot=0; gemm_core=0; lr=0
            for r0 in range(0, 512, H):
                lo, hi = band_rows(op, r0, r0+H, budget)
                dense += H*(hi-lo)
                if hi <= lo: continue
                a_, b_ = band_rows(op, r0, r0+H, theta*mx*0.5)  # core: rows' mass beyond it <= theta*max
                a_ = max(a_, lo); b_ = min(max(b_, a_), hi)
                kl = rank(op[r0:r0+H, lo:a_], tol); kr = rank(op[r0:r0+H, b_:hi], tol)
                c = H*(b_-a_); l = kl*(H+a_-lo) + kr*(H+hi-b_)
                tot += c + l; gemm_core += c; lr += l
            print(f"{name} H={H} theta={theta:g}: banded {dense}, core {gemm_core} + low-rank {lr} = {tot} ({tot/dense:.2f})")
