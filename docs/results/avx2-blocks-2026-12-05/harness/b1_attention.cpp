// B1 L64 d256 h4 causal self-attention, forward (NoGrad) and forward+backward (tape), as
// bench/cpu/bench_attention.cpp runs them; median µs over 7 runs of N calls. Usage: b1_attention [N]
// B1 L64 d256 h4 causal self-attention, forward (NoGrad) and forward+backward (tape), as bench_attention.cpp.
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include <cstdlib>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
int main(int argc, char** argv) {
  const int calls = argc > 1 ? atoi(argv[1]) : 2000;
  nn::ParameterStore<float, Cpu> store(1);
  nn::MultiHeadAttention<float, Cpu> attn(store, "attn", 256, 4);
  auto rnd = [](Shape s, uint64_t seed) { Tensor<float, Cpu> t(s); RngKey k{seed, 0xbe7c}; for (int64_t i = 0; i < t.numel(); ++i) t[i] = k.normal(i); return t; };
  const auto x0 = rnd(Shape{1, 64, 256}, 2), dy = rnd(Shape{1, 64, 256}, 3);
  const auto x = autograd::Var<float, Cpu>::leaf(x0);
  nn::AttentionMask<Cpu> mask; mask.causal = true;
  autograd::Tape tape;
  std::vector<double> tf, tb;
  double check = 0;
  for (int r = 0; r < 7; ++r) {
    auto s = std::chrono::steady_clock::now();
    { autograd::NoGrad ng; for (int i = 0; i < calls; ++i) { auto y = attn.forward(x0, x0, mask, nullptr); if (i == 0) check = y[5]; } }
    auto m = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) {
      const size_t mark = tape.mark();
      autograd::Var<float, Cpu> y;
      { autograd::Recording rec(tape); y = attn(x, x, mask); }
      tape.seed(y, dy); tape.backward(mark); tape.rewind(mark);
    }
    auto e = std::chrono::steady_clock::now();
    tf.push_back(std::chrono::duration<double, std::micro>(m - s).count() / calls);
    tb.push_back(std::chrono::duration<double, std::micro>(e - m).count() / calls);
  }
  std::sort(tf.begin(), tf.end()); std::sort(tb.begin(), tb.end());
  std::printf("fwd %.1f us [%.1f-%.1f]  fwd+bwd %.1f us [%.1f-%.1f]  y5=%.9g dx0=%.9g\n", tf[3], tf[0], tf[6], tb[3], tb[0], tb[6], check, x.grad()[0]);
}
