// Times the ∞-former gate convolution (B8 L512 e512, with bias) by conv3_winograd and prints the error of
// its first row against a double sum. -DTILE=cpu::detail::WinogradF43 (or F63) forces one tile size
// (2006a11's include); NOCHECK=1 in the environment skips the error check.
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include <cmath>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
static double now() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
int main(int argc, char** argv) {
  const int64_t B = argc > 1 ? atoi(argv[1]) : 8, L = argc > 2 ? atoi(argv[2]) : 512, e = 512;
  std::vector<float> x(B * L * e), w(3 * e * e), z(B * L * e), bias(e);
  RngKey key{7, 1};
  for (size_t i = 0; i < x.size(); ++i) x[i] = key.normal(i);
  for (size_t i = 0; i < w.size(); ++i) w[i] = key.normal(i + 9999999) / std::sqrt(3.0f * e);
  for (int64_t i = 0; i < e; ++i) bias[i] = 0.1f * key.normal(i + 99999999);
#ifdef TILE
  std::vector<float> scratch(cpu::detail::conv3_winograd_tile_scratch<TILE>(B, L, e));
  auto conv = [&] { cpu::detail::conv3_winograd_tiles<TILE>(x.data(), w.data(), z.data(), B, L, e, scratch.data(), bias.data()); };
#else
  std::vector<float> scratch(cpu::conv3_winograd_scratch(B, L, e));
  auto conv = [&] { cpu::conv3_winograd(x.data(), w.data(), z.data(), B, L, e, scratch.data(), bias.data()); };
#endif
  std::vector<double> ts;
  for (int rep = 0; rep < 9; ++rep) { double t0 = now(); conv(); ts.push_back(now() - t0); }
  std::sort(ts.begin(), ts.end());
  if (getenv("NOCHECK")) { std::printf("median %.2f min %.2f\n", ts[4], ts[0]); return 0; }
  // error against double on the first row
  double maxerr = 0, maxref = 0;
  for (int64_t t = 0; t < L; ++t) for (int64_t o = 0; o < e; o += 7) {
    double s = bias[o];
    for (int k = 0; k < 3; ++k) { int64_t src = t + k - 1; if (src < 0 || src >= L) continue; for (int64_t i = 0; i < e; ++i) s += double(x[src * e + i]) * w[(k * e + i) * e + o]; }
    maxerr = std::max(maxerr, std::fabs(s - z[t * e + o])); maxref = std::max(maxref, std::fabs(s));
  }
  std::printf("B%ld L%ld: median %.2f ms min %.2f (9 reps); max err / max|z| %.2e\n", B, L, ts[4], ts[0], maxerr / maxref);
}
