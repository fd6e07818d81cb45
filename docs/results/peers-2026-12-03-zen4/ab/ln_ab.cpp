// A/B: the old one-row-at-a-time float layer norm against layer_norm_rows_f32 blocks (one thread).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>
#include <algorithm>
#include "mnemo/backend/cpu/layer_norm_rows.hpp"
static void old_ln(const float* x, const float* g, const float* b, float* y, float* mean, float* rstd, long rows, long cols, float eps) {
  for (long r = 0; r < rows; ++r) {
    const float* xr = x + r * cols; float* yr = y + r * cols;
    float s = 0; for (long c = 0; c < cols; ++c) s += xr[c];
    const float mu = s / float(cols); float v = 0;
    for (long c = 0; c < cols; ++c) { const float d = xr[c] - mu; v += d * d; }
    const float rs = 1.0f / std::sqrt(v / float(cols) + eps);
    mean[r] = mu; rstd[r] = rs;
    for (long c = 0; c < cols; ++c) yr[c] = (xr[c] - mu) * rs * g[c] + b[c];
  }
}
static void new_ln(const float* x, const float* g, const float* b, float* y, float* mean, float* rstd, long rows, long cols, float eps) {
  for (long r0 = 0; r0 < rows; r0 += 8)
    mnemo::cpu::detail::layer_norm_rows_f32(x + r0 * cols, g, b, y + r0 * cols, mean + r0, rstd + r0, std::min(8L, rows - r0), cols, eps);
}
int main() {
  for (auto [rows, cols] : {std::pair<long, long>{64, 256}, {8192, 512}, {130, 48}}) {
    std::mt19937 rng(1); std::normal_distribution<float> nd(0.3f, 1.5f);
    std::vector<float> x(rows * cols), g(cols), b(cols), y1(x.size()), y2(x.size()), m1(rows), m2(rows), s1(rows), s2(rows);
    for (auto& v : x) v = nd(rng); for (auto& v : g) v = nd(rng); for (auto& v : b) v = nd(rng);
    old_ln(x.data(), g.data(), b.data(), y1.data(), m1.data(), s1.data(), rows, cols, 1e-5f);
    new_ln(x.data(), g.data(), b.data(), y2.data(), m2.data(), s2.data(), rows, cols, 1e-5f);
    const bool same = !std::memcmp(y1.data(), y2.data(), y1.size() * 4) && !std::memcmp(m1.data(), m2.data(), rows * 4) && !std::memcmp(s1.data(), s2.data(), rows * 4);
    const int reps = int(std::max(1L, 4000000 / (rows * cols)));
    double t[2][7];
    for (int a = 0; a < 7; ++a) for (int w = 0; w < 2; ++w) {
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) (w ? new_ln : old_ln)(x.data(), g.data(), b.data(), w ? y2.data() : y1.data(), m1.data(), s1.data(), rows, cols, 1e-5f);
      t[w][a] = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / reps;
    }
    std::sort(t[0], t[0] + 7); std::sort(t[1], t[1] + 7);
    std::printf("rows %ld cols %ld: bitwise %s  old %.2f us  new %.2f us  (median of 7)  ratio %.2f\n", rows, cols, same ? "equal" : "DIFFERENT", t[0][3], t[1][3], t[1][3] / t[0][3]);
  }
}
