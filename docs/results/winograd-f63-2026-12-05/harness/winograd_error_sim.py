# Float32 simulation of the ∞-former gate convolution (kernel 3, channel mixing, zero padding 1)
# at L = e = 512: direct sum and Winograd F(4,3), F(6,3), F(8,3) (matrices built from the
# interpolation points, B^T solved so that the identity holds; checked exact in double), errors
# against float64 relative to the largest |output|. Run: python3 winograd_error_sim.py (numpy).
import numpy as np
from fractions import Fraction as F
rng = np.random.default_rng(1)
L, e = 512, 512
x = rng.standard_normal((L, e))
w = rng.standard_normal((3, e, e)) / np.sqrt(3 * e)
xp = np.vstack([np.zeros((1, e)), x, np.zeros((8, e))])
ref = xp[0:L] @ w[0] + xp[1:L+1] @ w[1] + xp[2:L+2] @ w[2]
x32, w32 = xp.astype(np.float32), w.astype(np.float32)
direct = x32[0:L] @ w32[0] + x32[1:L+1] @ w32[1] + x32[2:L+2] @ w32[2]
def wino(BT, G, AT, m):
    BT, G, AT = (np.array(M, dtype=np.float64) for M in (BT, G, AT))
    n = BT.shape[0]
    # check exactness in double on a small case
    d = rng.standard_normal(n); g = rng.standard_normal(3)
    y = AT @ ((G @ g) * (BT @ d)); yd = np.array([d[i:i+3] @ g for i in range(m)])
    assert np.allclose(y, yd, atol=1e-12), (y, yd)
    U = np.einsum('ik,kab->iab', G, w).astype(np.float32)           # [n, e, e]
    tiles = (L + m - 1) // m
    D = np.stack([x32[t*m:t*m+n] for t in range(tiles)])               # [tiles, n, e]
    V = np.einsum('ij,tjc->itc', BT.astype(np.float32), D).astype(np.float32)
    M = np.stack([V[i] @ U[i] for i in range(n)])                      # [n, tiles, e]
    Y = np.einsum('oi,itc->toc', AT.astype(np.float32), M).reshape(tiles*m, e)[:L]
    return Y
BT4 = [[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]]
G4 = [[1/4,0,0],[-1/6,-1/6,-1/6],[-1/6,1/6,-1/6],[1/24,1/12,1/6],[1/24,-1/12,1/6],[0,0,1]]
AT4 = [[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]]
BT6 = [[1,0,-21/4,0,21/4,0,-1,0],[0,1,1,-17/4,-17/4,1,1,0],[0,-1,1,17/4,-17/4,-1,1,0],
       [0,1/2,1/4,-5/2,-5/4,2,1,0],[0,-1/2,1/4,5/2,-5/4,-2,1,0],[0,2,4,-5/2,-5,1/2,1,0],
       [0,-2,4,5/2,-5,-1/2,1,0],[0,-1,0,21/4,0,-21/4,0,1]]
G6 = [[1,0,0],[-2/9,-2/9,-2/9],[-2/9,2/9,-2/9],[1/90,1/45,2/45],[1/90,-1/45,2/45],
      [32/45,16/45,8/45],[32/45,-16/45,8/45],[0,0,1]]
AT6 = [[1,1,1,1,1,1,1,0],[0,1,-1,2,-2,1/2,-1/2,0],[0,1,1,4,4,1/4,1/4,0],[0,1,-1,8,-8,1/8,-1/8,0],
       [0,1,1,16,16,1/16,1/16,0],[0,1,-1,32,-32,1/32,-1/32,1]]
import itertools
def make(points, m, r=3):
    n = m + r - 1
    a = np.array(points, dtype=np.float64); assert len(a) == n - 1
    AT = np.zeros((m, n)); 
    for j in range(m): AT[j, :n-1] = a ** j
    AT[m-1, n-1] = 1
    G = np.zeros((n, r))
    for i in range(n-1):
        f = np.prod([a[i] - a[j] for j in range(n-1) if j != i])
        G[i] = a[i] ** np.arange(r) / f
    G[n-1, r-1] = 1
    # solve BT from sum_i AT[o,i] G[i,k] BT[i,j] = [j == o+k]
    rows, rhs = [], []
    for o in range(m):
        for k in range(r):
            for j in range(n):
                row = np.zeros((n, n))
                row[:, j] = AT[o] * G[:, k]
                rows.append(row.ravel()); rhs.append(1.0 if j == o + k else 0.0)
    sol, res, rank, _ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    BT = sol.reshape(n, n)
    print("residual", np.abs(np.array(rows) @ sol - rhs).max(), "max|BT|", np.abs(BT).max(), "max|AT|", np.abs(AT).max())
    return BT, G, AT
scale = np.abs(ref).max()
for name, y in [("direct", direct), ("F(4,3) (the library's matrices)", wino(BT4, G4, AT4, 4)),
                ("F(6,3) (the library's matrices)", wino(BT6, G6, AT6, 6))]:
    err = np.abs(y - ref)
    print(f"{name}: max err / max|out| {err.max()/scale:.2e}, rms rel {np.sqrt((err**2).mean())/np.sqrt((ref**2).mean()):.2e}")
for name, pts, m in [("F(6,3) 0,±1,±2,±1/2", [0,1,-1,2,-2,.5,-.5], 6),
                     ("F(8,3) +±4", [0,1,-1,2,-2,.5,-.5,4,-4], 8),
                     ("F(8,3) +±1/4", [0,1,-1,2,-2,.5,-.5,.25,-.25], 8),
                     ("F(8,3) +±3", [0,1,-1,2,-2,.5,-.5,3,-3], 8)]:
    BT, G, AT = make(pts, m)
    y = wino(BT, G, AT, m)
    err = np.abs(y - ref)
    print(f"{name}: max err / max|out| {err.max()/scale:.2e}, rms rel {np.sqrt((err**2).mean())/np.sqrt((ref**2).mean()):.2e}")
