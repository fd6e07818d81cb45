// The ∞-former read's r·V products (8 batch rows × 8 heads × 4 blocks of 128 queries: [128 × 512]·[512 × 64])
// on oneDNN, one thread: V_h read in place (row stride e = 512), on a contiguous copy made once per
// (batch row, head), and as one [512 × 512]·[512 × 64] product. g++ -O3 -march=native rv.cpp -ldnnl -lgomp
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
#include <algorithm>
#include <dnnl.h>
#include <omp.h>
int main() {
  omp_set_num_threads(1);
  const int64_t nb = 8, H = 8, N = 512, e = 512, dh = 64, L = 512, blk = 128;
  std::vector<float> V(nb * N * e), r(blk * N), out(nb * L * e), vh(N * dh);
  for (size_t i = 0; i < V.size(); ++i) V[i] = (i % 17) * 0.01f;
  for (size_t i = 0; i < r.size(); ++i) r[i] = (i % 13) * 0.01f;
  for (int rep = 0; rep < 5; ++rep) {
    double t[3] = {0, 0, 0};
    for (int variant = 0; variant < 3; ++variant) {
      auto t0 = std::chrono::steady_clock::now();
      for (int64_t b = 0; b < nb; ++b) for (int64_t h = 0; h < H; ++h) {
        const float* vb = V.data() + b * N * e + h * dh;
        if (variant == 1) for (int64_t p = 0; p < N; ++p) std::memcpy(vh.data() + p * dh, vb + p * e, dh * 4);
        for (int64_t q0 = 0; q0 < L; q0 += blk) {
          float* c = out.data() + (b * L + q0) * e + h * dh;
          if (variant == 0) dnnl_sgemm('N', 'N', blk, dh, N, 1.f, r.data(), N, vb, e, 0.f, c, e);
          else if (variant == 1) dnnl_sgemm('N', 'N', blk, dh, N, 1.f, r.data(), N, vh.data(), dh, 0.f, c, e);
          else dnnl_sgemm('N', 'N', L, dh, N, 1.f, r.data(), N, vb, e, 0.f, c, e), q0 = L;  // whole L at once (r reused: not realistic for r)
        }
      }
      t[variant] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    const double gf = 2.0 * nb * H * L * N * dh * 1e-9;
    std::printf("in place %.2f ms (%.0f GF/s)  V_h copied %.2f ms (%.0f)  m=512 %.2f ms\n", t[0], gf / t[0] * 1e3, t[1], gf / t[1] * 1e3, t[2]);
  }
}
