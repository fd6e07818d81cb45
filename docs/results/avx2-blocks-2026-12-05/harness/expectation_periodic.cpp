// The float Gaussian expectation per entry (detail::expectation_block as in 46bf95e) against 1/v and
// sqrt(1/v) once per query for widths of period 2, 32768 queries x 512 functions, one thread; prints
// whether the two give the same bits.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
#include <algorithm>
#include "mnemo/backend/cpu/gaussian_expectation.hpp"
using namespace mnemo::cpu::detail;
// periodic: iv and sqrt(iv) of the 16 lanes computed once per query
inline void block_periodic(float mu, const float* centres, const FloatLanes& iv, const FloatLanes& siv, int64_t w, float* out) {
  for (int64_t j = 0; j < w; j += kLanes) {
    const FloatLanes d = mu - ConstFloatLanesMap(centres + j);
    FloatLanesMap(out + j) = (-0.5f * d * d * iv).exp() * 0.39894228040143267794f * siv;
  }
}
int main() {
  const int64_t n = 32768, N = 512;
  std::vector<float> mu(n), s2(n), c(N), ws(N), r1(n * N), r2(n * N), iv(256);
  for (int64_t i = 0; i < n; ++i) { mu[i] = (i % 97) / 97.0f; s2[i] = 0.001f + (i % 13) * 0.05f; }
  for (int64_t j = 0; j < N; ++j) { c[j] = (j / 2) / 255.0f; ws[j] = j % 2 ? 1e-4f : 2.5e-5f; }
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) for (int64_t j0 = 0; j0 < N; j0 += 256) expectation_block(mu[i], s2[i], c.data() + j0, ws.data() + j0, 256, iv.data(), r1.data() + i * N + j0);
    auto t1 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) {
      const FloatLanes ivl = (ConstFloatLanesMap(ws.data()) + s2[i]).inverse();
      const FloatLanes sivl = ivl.sqrt();
      block_periodic(mu[i], c.data(), ivl, sivl, N, r2.data() + i * N);
    }
    auto t2 = std::chrono::steady_clock::now();
    std::printf("current %.2f ms  periodic %.2f ms  identical=%d\n", std::chrono::duration<double, std::milli>(t1 - t0).count(), std::chrono::duration<double, std::milli>(t2 - t1).count(), (int)(std::memcmp(r1.data(), r2.data(), r1.size() * 4) == 0));
  }
}
