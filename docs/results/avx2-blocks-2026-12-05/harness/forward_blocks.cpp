// cpu::attention_forward (no P) over 4 heads of d_h 64, causal, one thread, for a query block and a
// length. Usage: forward_blocks BLOCK L (build against include/ of 46bf95e: see run_sweeps.sh)
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include <cstdlib>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
int main(int argc, char** argv) {
  const int64_t block = argc > 1 ? atoi(argv[1]) : 64, len = argc > 2 ? atoi(argv[2]) : 64, H = 4, dh = 64, d = H * dh;
  auto rnd = [](int64_t n, uint64_t s) { std::vector<float> v(n); RngKey k{s, 1}; for (int64_t i = 0; i < n; ++i) v[i] = k.normal(i); return v; };
  auto q = rnd(len * d, 1), k = rnd(len * d, 2), v = rnd(len * d, 3);
  std::vector<float> o(len * d);
  SoftmaxMask mask; mask.causal = true;
  cpu::set_num_threads(1);
  const int calls = 20000 * 64 * 64 / (len * len);
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) cpu::attention_forward<float>(q.data(), d, k.data(), v.data(), d, o.data(), d, SoftmaxDims{1, H, len, len}, dh, 0.125f, mask, block);
    double f = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / calls;
    std::printf("fused fwd 4 heads %.2f us  o[77]=%.6g\n", f, o[77]);
  }
}
