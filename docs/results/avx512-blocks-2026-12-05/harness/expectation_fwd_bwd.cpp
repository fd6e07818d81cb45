// cpu::gaussian_expectation_forward and _backward (float), 32768 queries × 512 functions, one thread:
// squared widths of period 2 (the per-query inverses of RegisterInverses) against the same widths
// with the last one changed (no period: 1/v and sqrt(1/v) per entry). Medians of 7 calls, ms.
// Build: g++ -O3 -march=native -std=gnu++20 -isystem /usr/include/eigen3 -Iinclude expectation_fwd_bwd.cpp
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "mnemo/backend/cpu/context.hpp"
#include "mnemo/backend/cpu/gaussian_expectation.hpp"
using namespace mnemo;
template <class F>
static double median_ms(F&& f) {
  std::vector<double> t;
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[3];
}
int main() {
  const int64_t n = 32768, N = 512;
  cpu::set_num_threads(1);
  std::vector<float> mu(n), s2(n), c(N), periodic(N), dr(n * N), r(n * N), dmu(n), ds(n);
  for (int64_t i = 0; i < n; ++i) { mu[i] = (i % 97) / 97.0f; s2[i] = 0.001f + (i % 13) * 0.05f; }
  for (int64_t j = 0; j < N; ++j) { c[j] = (j / 2) / 255.0f; periodic[j] = j % 2 ? 1e-4f : 2.5e-5f; }
  for (int64_t k = 0; k < n * N; ++k) dr[k] = ((k * 7919) % 1000) / 1000.0f - 0.5f;
  std::vector<float> aperiodic = periodic;
  aperiodic[N - 1] = 3e-4f;
  for (int round = 0; round < 3; ++round)
    for (const auto* widths : {&periodic, &aperiodic}) {
      const double f = median_ms([&] { cpu::gaussian_expectation_forward<float>(mu.data(), s2.data(), c.data(), widths->data(), r.data(), n, N); });
      const double b = median_ms([&] { cpu::gaussian_expectation_backward<float>(mu.data(), s2.data(), c.data(), widths->data(), dr.data(), dmu.data(), ds.data(), n, N); });
      std::printf("round %d %-9s forward %.2f ms  backward %.2f ms\n", round + 1, widths == &periodic ? "periodic" : "per-entry", f, b);
    }
}
