#include <bits/stdc++.h>
#include <Eigen/Dense>
#define private public
#include "mnemo/mnemo.hpp"
#undef private
using namespace mnemo;
static double wall_ms() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
Tensor<float, Cpu> rnd(const Shape& s, uint64_t seed) { Tensor<float, Cpu> t(s); RngKey k{seed, 1}; for (int64_t i = 0; i < t.numel(); ++i) t[i] = k.normal(i); return t; }
int main(int argc, char** argv) {
  const int64_t B = 8, L = 512, e = 512, H = 8, N = 512, n = B * H * L;
  auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = N; c.segment_length = L;
  nn::ParameterStore<float, Cpu> store{1};
  memory::ContinuousMemory<float, Cpu> ltm{store, "ltm", e, H, c};
  using CT = Tensor<float, Cpu>;
  CT mu({n}), s2({n}), v = rnd({B, N, e}, 5), m1({B, L, e});
  const float s2v = argc > 1 ? atof(argv[1]) : 0.69f;
  for (int64_t i = 0; i < n; ++i) { mu[i] = 0.3f + 0.4f * (i % 97) / 97.f; s2[i] = s2v + 0.02f * (i % 13) / 13.f; }
  std::vector<double> t, tm, tc;
  for (int it = 0; it < 9; ++it) {
    double t0 = wall_ms(); ltm.blocked_context(mu, s2, v, m1, B, L); t.push_back(wall_ms() - t0);
    t0 = wall_ms(); auto sm = ltm.smooth_moments(s2, v, B, L); tm.push_back(wall_ms() - t0); if (sm.degree.empty()) continue;
    std::vector<float> a(128 * 64);
    t0 = wall_ms(); for (int64_t k = 0; k < n; k += 128) ltm.operators()->smooth_read().coefficients(sm.degree[0], mu.data() + k, s2.data() + k, 128, a.data()); tc.push_back(wall_ms() - t0);
  }
  std::sort(t.begin(), t.end()); std::sort(tm.begin(), tm.end()); std::sort(tc.begin(), tc.end());
  std::printf("sigma2 %.3f: blocked_context %.2f ms, of which moments %.2f, coefficients %.2f\n", s2v, t[4], tm[4], tc[4]);
}
