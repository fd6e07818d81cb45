// The Winograd products alone: batched [tiles, 512] x [512, 512] GEMMs of F(4, 3) (1024 tiles x 6)
// and F(6, 3) (688 x 8) at B8 L512, and nearby tile counts; one run, median of 7 calls.
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
static double now() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
int main() {
  const int64_t e = 512;
  for (auto [tiles, n] : std::vector<std::pair<int64_t,int64_t>>{{1024, 6}, {688, 8}, {696, 8}, {704, 8}, {640,8}}) {
    std::vector<float> v(n * tiles * e, 0.5f), u(n * e * e, 0.25f), m(n * tiles * e);
    std::vector<double> ts;
    for (int rep = 0; rep < 7; ++rep) { double t0 = now(); cpu::gemm_strided_batched<float>(Trans::N, Trans::N, tiles, e, e, 1.0f, v.data(), e, tiles * e, u.data(), e, e * e, 0.0f, m.data(), e, tiles * e, n); ts.push_back(now() - t0); }
    std::sort(ts.begin(), ts.end());
    std::printf("tiles %ld x %ld: %.2f ms, %.1f GFLOP/s\n", tiles, n, ts[3], 2.0 * n * tiles * e * e / ts[3] / 1e6);
  }
}
