// The Winograd transforms of each tile size alone (filter, input, output; minimum of 7, one thread)
// and the whole float convolution by each tile size (no bias, constant data), B8 L512 e512.
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
static double now() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
template <class Tile> void run(const char* name) {
  const int64_t B = 8, L = 512, e = 512, n = Tile::points, r = Tile::outputs, per_row = (L + r - 1) / r, tiles = B * per_row, ee = e * e, te = tiles * e;
  std::vector<float> x(B * L * e, 0.3f), w(3 * ee, 0.1f), z(B * L * e), u(n * ee), v(n * te), m(n * te, 0.2f), zeros(e, 0.f);
  double tf = 1e9, ti = 1e9, to = 1e9;
  for (int rep = 0; rep < 7; ++rep) {
    double t0 = now();
    for (int64_t i = 0; i < ee; ++i) Tile::filter(w[i], w[ee + i], w[2 * ee + i], u.data() + i, ee);
    double t1 = now();
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t b = tile / per_row, t = r * (tile % per_row);
      const float* p[n];
      for (int64_t i = 0; i < n; ++i) { const int64_t s = t - 1 + i; p[i] = s >= 0 && s < L ? x.data() + (b * L + s) * e : zeros.data(); }
      Tile::input(p, v.data() + tile * e, te, e);
    }
    double t2 = now();
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t b = tile / per_row, t = r * (tile % per_row);
      Tile::output(m.data() + tile * e, te, zeros.data(), z.data() + (b * L + t) * e, e, std::min(r, L - t));
    }
    double t3 = now();
    tf = std::min(tf, t1 - t0); ti = std::min(ti, t2 - t1); to = std::min(to, t3 - t2);
  }
  std::printf("%s: filter %.2f input %.2f output %.2f ms (min of 7)\n", name, tf, ti, to);
}
static int main1() { run<cpu::detail::WinogradF43>("F43"); run<cpu::detail::WinogradF63>("F63"); run<cpu::detail::WinogradF43>("F43"); run<cpu::detail::WinogradF63>("F63"); return 0; }
template <class Tile> double full() {
  const int64_t B = 8, L = 512, e = 512;
  static std::vector<float> x(B * L * e, 0.3f), w(3 * e * e, 0.1f), z(B * L * e);
  std::vector<float> s(cpu::detail::conv3_winograd_tile_scratch<Tile>(B, L, e));
  double best = 1e9;
  for (int rep = 0; rep < 7; ++rep) { double t0 = now(); cpu::detail::conv3_winograd_tiles<Tile>(x.data(), w.data(), z.data(), B, L, e, s.data(), nullptr); best = std::min(best, now() - t0); }
  return best;
}
int main() { main1(); for (int i = 0; i < 2; ++i) std::printf("full F43 %.2f  F63 %.2f ms\n", full<cpu::detail::WinogradF43>(), full<cpu::detail::WinogradF63>()); return 0; }
