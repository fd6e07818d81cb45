#include <bits/stdc++.h>
#include <immintrin.h>
#include <Eigen/Dense>
#define private public
#include "mnemo/mnemo.hpp"
#undef private
using namespace mnemo;
static double wall_ms() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
#include "rv_kernel.hpp"
Tensor<float, Cpu> rnd(const Shape& s, uint64_t seed) { Tensor<float, Cpu> t(s); RngKey k{seed, 1}; for (int64_t i = 0; i < t.numel(); ++i) t[i] = k.normal(i); return t; }
int main() {
  const int64_t B = 8, L = 512, e = 512, H = 8, N = 512, dh = 64, n = B * H * L;
  auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = N; c.segment_length = L;
  nn::ParameterStore<float, Cpu> store{1};
  memory::ContinuousMemory<float, Cpu> ltm{store, "ltm", e, H, c};
  using CT = Tensor<float, Cpu>;
  CT mu({n}), s2({n}), v = rnd({B, N, e}, 5), m1({B, L, e}), m2({B, L, e});
  for (int64_t i = 0; i < n; ++i) { mu[i] = 0.3f + 0.4f * (i % 97) / 97.f; s2[i] = 0.6f + 0.2f * (i % 13) / 13.f; }
  auto mine = [&]() {
    const int64_t blk = 128, blocks = L / blk, per_bh = blocks;
    cpu::parallel_for(B * H, 1 << 30, [&](int64_t b0, int64_t b1) {
      std::vector<float> r(blk * N), vp(N * dh);
      for (int64_t bh = b0; bh < b1; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        for (int64_t p = 0; p < N; ++p) std::memcpy(vp.data() + p * dh, v.data() + b * N * e + p * e + h * dh, dh * 4);
        for (int64_t t = 0; t < per_bh; ++t) {
          const int64_t q0 = t * blk, i0 = bh * L + q0;
          cpu::gaussian_expectation_forward<float>(mu.data() + i0, s2.data() + i0, ltm.operators()->centres().data(), ltm.operators()->widths_sq().data(), r.data(), blk, N);
          kern(blk, N, r.data(), N, vp.data(), m2.data() + (b * L + q0) * e + h * dh, e);
        }
      }
    });
  };
  for (int round = 0; round < 3; ++round) {
    std::vector<double> a, bb;
    for (int it = 0; it < 7; ++it) {
      double t0 = wall_ms(); ltm.blocked_context(mu, s2, v, m1, B, L); a.push_back(wall_ms() - t0);
      t0 = wall_ms(); mine(); bb.push_back(wall_ms() - t0);
    }
    std::sort(a.begin(), a.end()); std::sort(bb.begin(), bb.end());
    std::printf("blocked_context %.2f ms (min %.2f)   kernel %.2f ms (min %.2f)\n", a[3], a[0], bb[3], bb[0]);
  }
  double err = 0, mx = 0; for (int64_t i = 0; i < m1.numel(); ++i) { err = std::max(err, (double)std::abs(m1[i] - m2[i])); mx = std::max(mx, (double)std::abs(m1[i])); }
  std::printf("max diff %g of max %g\n", err, mx);
}
