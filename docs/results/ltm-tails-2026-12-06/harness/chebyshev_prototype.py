import numpy as np
N, W = 512, 2
cent = np.repeat(np.linspace(0, 1, N // W), W); widths = np.tile([0.005, 0.01], N // W) ** 2
rng = np.random.default_rng(0)
V = rng.standard_normal((N, 64))
def bound(s, K):
    best = np.inf
    for rho in np.linspace(1.05, 40, 4000):
        b = (rho - 1 / rho) / 2
        v = 4 * np.exp(min(b * b / (2 * s * s), 700)) * rho ** (-K) / (1 - 1 / rho)
        best = min(best, v)
    return best
tol = 2.0 ** -25
table = {}
for K in (8, 12, 16, 24, 32):
    lo, hi = 0.01, 10.0
    for _ in range(50):
        mid = np.sqrt(lo * hi)
        if bound(mid, K) <= tol: hi = mid
        else: lo = mid
    table[K] = hi
    print("K", K, "s_x min", hi, "sigma_c min", hi / 2)
def cheb_c(mu, v, K):
    k = np.arange(K); xk = np.cos(np.pi * (k + 0.5) / K)
    D = 2.0 / K * np.cos(np.outer(k, np.pi * (k + 0.5) / K)); D[0] /= 2
    x = 2 * cent - 1
    T = np.cos(np.outer(np.arange(K), np.arccos(np.clip(x, -1, 1))))  # [K, N]
    out = np.zeros(64)
    for w in range(W):
        sel = np.arange(N) % W == w
        Vw = v + widths[sel][0]
        g = np.exp(-((xk - (2 * mu - 1)) ** 2) / (2 * 4 * Vw)) / np.sqrt(2 * np.pi * Vw)
        a = D @ g
        out += a @ (T[:, sel] @ V[sel])
    return out
for mu, v in ((0.5, 0.69), (0.1, 0.6), (0.97, 0.7), (0.5, 0.05), (0.3, 0.02)):
    r = np.exp(-(mu - cent) ** 2 / (2 * (v + widths))) / np.sqrt(2 * np.pi * (v + widths))
    c = r @ V
    sx = 2 * np.sqrt(v + widths.min())
    K = next((K for K in sorted(table) if table[K] <= sx), None)
    if K is None: print(mu, v, "dense"); continue
    ct = cheb_c(mu, v, K)
    print(f"mu {mu} v {v}: K {K}, max|c-ct| {np.abs(c-ct).max():.2e}, max|c| {np.abs(c).max():.2f}, sum|r||V| scale {np.abs(r)@np.abs(V).max(axis=1)*0+ (np.abs(r)[:,None]*np.abs(V)).sum(0).max():.1f}")
