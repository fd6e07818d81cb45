// The LTM write's banded products, one thread, oneDNN: fit_new bands (A = fit_new [L, N] read
// transposed) and contract bands (A = contract [N, N]), batch 8 with src stride L*e.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
#include <algorithm>
#include <dnnl.h>
#include <omp.h>
struct Band { long r0, r1, k0, k1; };
int main(int argc, char** argv) {
  omp_set_num_threads(1);
  const long N = 512, L = 512, e = 512, nb = 8;
  std::vector<Band> fitb, conb;
  for (long r0 = 0; r0 < 512; r0 += 32) {
    long fk1 = std::min(512L, std::max(0L, (r0 - 96) * 2 + 64)), fk0 = std::max(0L, (r0 - 416) * 2 + 32);
    if (r0 < 96) fk0 = fk1 = 0;
    if (r0 >= 416) fk0 = (r0 - 416) * 2 + 32, fk1 = 512;
    fitb.push_back({r0, r0 + 32, fk0, fk1});
    long ck0 = std::max(0L, (r0 - 160) * 2 + 48), ck1 = std::min(512L, 336 + r0 * 2);
    if (r0 >= 416) ck0 = ck1 = 0;
    conb.push_back({r0, r0 + 32, ck0, ck1});
  }
  std::vector<float> fit(L * N), con(N * N), x(nb * L * e), prev(nb * N * e), dst(nb * N * e), srcT(N * nb * e), dstT(N * nb * e);
  for (size_t i = 0; i < fit.size(); ++i) fit[i] = (i % 7) * 0.01f;
  for (size_t i = 0; i < con.size(); ++i) con[i] = (i % 5) * 0.01f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 11) * 0.01f;
  for (size_t i = 0; i < prev.size(); ++i) prev[i] = (i % 3) * 0.01f;
  double flops = 0;
  for (auto& b : fitb) flops += 2.0 * 32 * (b.k1 - b.k0) * e * nb;
  for (auto& b : conb) flops += 2.0 * 32 * (b.k1 - b.k0) * e * nb;
  for (int rep = 0; rep < 5; ++rep) {
    double t[3];
    for (int v = 0; v < 3; ++v) {
      auto t0 = std::chrono::steady_clock::now();
      if (v == 0) {  // current: per band, per batch row
        for (auto& b : fitb) for (long bb = 0; bb < nb; ++bb) if (b.k1 > b.k0)
          dnnl_sgemm('T', 'N', 32, e, b.k1 - b.k0, 1.f, fit.data() + b.k0 * N + b.r0, N, x.data() + bb * L * e + b.k0 * e, e, 0.f, dst.data() + bb * N * e + b.r0 * e, e);
          else for (long bb2 = 0; bb2 < 1; ++bb2) {}
        for (auto& b : conb) for (long bb = 0; bb < nb; ++bb) if (b.k1 > b.k0)
          dnnl_sgemm('N', 'N', 32, e, b.k1 - b.k0, 1.f, con.data() + b.r0 * N + b.k0, N, prev.data() + bb * N * e + b.k0 * e, e, 1.f, dst.data() + bb * N * e + b.r0 * e, e);
      } else if (v == 1) {  // batch rows side by side: src [k, nb*e] (x would have to be [L, nb, e])
        for (auto& b : fitb) if (b.k1 > b.k0)
          dnnl_sgemm('T', 'N', 32, nb * e, b.k1 - b.k0, 1.f, fit.data() + b.k0 * N + b.r0, N, srcT.data() + b.k0 * nb * e, nb * e, 0.f, dstT.data() + b.r0 * nb * e, nb * e);
        for (auto& b : conb) if (b.k1 > b.k0)
          dnnl_sgemm('N', 'N', 32, nb * e, b.k1 - b.k0, 1.f, con.data() + b.r0 * N + b.k0, N, srcT.data() + b.k0 * nb * e, nb * e, 1.f, dstT.data() + b.r0 * nb * e, nb * e);
      } else {  // dense, per batch row (no bands)
        for (long bb = 0; bb < nb; ++bb) {
          dnnl_sgemm('T', 'N', N, e, L, 1.f, fit.data(), N, x.data() + bb * L * e, e, 0.f, dst.data() + bb * N * e, e);
          dnnl_sgemm('N', 'N', N, e, N, 1.f, con.data(), N, prev.data() + bb * N * e, e, 1.f, dst.data() + bb * N * e, e);
        }
      }
      t[v] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    std::printf("banded per batch %.2f ms (%.0f GF/s) | batch side by side %.2f ms (%.0f) | dense %.2f ms (%.0f dense GF/s)\n", t[0], flops / t[0] * 1e-6, t[1], flops / t[1] * 1e-6, t[2], 2.0 * 2 * N * 512 * e * nb / t[2] * 1e-6);
  }
  std::printf("banded GFLOP %.2f\n", flops * 1e-9);
}
