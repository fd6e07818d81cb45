// One (batch row, head) of causal attention on the register tiles, one thread, d_h 64:
// cpu::attention_head_forward (P kept) and cpu::attention_head_backward per call, for a query block
// and a length. Usage: head_blocks BLOCK L (build against include/ of 46bf95e: see run_sweeps.sh)
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
int main(int argc, char** argv) {
  const int64_t len = argc > 2 ? atoi(argv[2]) : 64, dh = 64, block = argc > 1 ? atoi(argv[1]) : 64;
  auto rnd = [](int64_t n, uint64_t s) { std::vector<float> v(n); RngKey k{s, 1}; for (int64_t i = 0; i < n; ++i) v[i] = k.normal(i); return v; };
  auto q = rnd(len * dh, 1), k = rnd(len * dh, 2), v = rnd(len * dh, 3), dO = rnd(len * dh, 4);
  std::vector<float> p(len * len), o(len * dh), dQ(len * dh), dK(len * dh), dV(len * dh);
  SoftmaxMask mask; mask.causal = true;
  cpu::set_num_threads(1);
  const int calls = 20000 * 64 * 64 / (len * len);
  for (int r = 0; r < 5; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) cpu::attention_head_forward<float>(q.data(), k.data(), v.data(), p.data(), o.data(), dh, len, len, dh, block < len, 0, block, 0.125f, mask);
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) cpu::attention_head_backward<float>(p.data(), dO.data(), dh, q.data(), k.data(), v.data(), dQ.data(), dK.data(), dV.data(), dh, len, len, dh, block < len, 0, block, 0.125f, 0.0f);
    auto t2 = std::chrono::steady_clock::now();
    double f = std::chrono::duration<double, std::micro>(t1 - t0).count() / calls, b = std::chrono::duration<double, std::micro>(t2 - t1).count() / calls;
    std::printf("head fwd %.2f us (%.0f GF/s dense)  bwd %.2f us (%.0f GF/s dense)\n", f, 2 * 2.0 * len * len * 64 / f * 1e-3, b, 4 * 2.0 * len * len * 64 / b * 1e-3);
  }
}
