# Numerical rank of the write operators (G_new^T, C_old = G_old^T Psi_s) at B8 seg512 N512, LM preset;
# run from bench/peers: /work/torchvenv/bin/python ../../docs/results/ltm-2026-12-03-ltm5/operator_ranks.py
# Output (2026-12-03): G_new^T 135 / 224, C_old 134 / 185 singular values above 2^-24 / 2^-30 of the largest.
import sys, torch
sys.path.insert(0, '.')
torch.set_num_threads(1)
from infinite_former_cpu import basis, psi, contraction_operator
L = M = N = 512
mu, sigma = basis(N, [0.005, 0.01])
G = contraction_operator(L, M, 0.5, 0.5, mu, sigma)   # [M+L, N]
G_old, G_new = G[:M], G[M:]
psi_s = psi(torch.arange(1, M + 1, dtype=torch.float64) / M, mu, sigma)
C_old = G_old.T @ psi_s
for name, A in [("G_new^T", G_new.T), ("C_old", C_old)]:
    s = torch.linalg.svdvals(A)
    for thr in (2**-24, 2**-30):
        print(name, "rank above", thr, "of largest:", int((s > thr * s[0]).sum()))
