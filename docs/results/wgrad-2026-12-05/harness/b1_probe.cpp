// B1 L64 d256 h4 causal attention, forward (mode 0) or forward+backward (mode 1), timed per call;
// with -DPROBE the pool and fork-site probes of docs/results/floors-2026-12-05/harness/make_probe_tree.py.
// Prints the median, 10th and 90th percentile of µs per call. Built by run_wgrad.sh.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
using TensorF = Tensor<float, Cpu>;
using VarF = autograd::Var<float, Cpu>;
TensorF normal_tensor(const Shape& s, uint64_t seed) {
  TensorF t(s);
  const RngKey key{seed, 0xbe7c};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(key.normal(static_cast<uint64_t>(i)));
  return t;
}
int main(int argc, char** argv) {
  const int mode = argc > 1 ? std::atoi(argv[1]) : 0, iters = argc > 2 ? std::atoi(argv[2]) : 4000;
  nn::ParameterStore<float, Cpu> store(1);
  nn::MultiHeadAttention<float, Cpu> attention(store, "attn", 256, 4);
  nn::AttentionMask<Cpu> mask;
  mask.causal = true;
  const TensorF xt = normal_tensor(Shape{1, 64, 256}, 2), dy = normal_tensor(Shape{1, 64, 256}, 3);
  const VarF x = VarF::leaf(xt);
  autograd::Tape tape;
  auto body = [&] {
    if (mode == 0) {
      autograd::NoGrad no_grad;
      TensorF y = attention.forward(xt, xt, mask, nullptr);
      asm volatile("" : : "r"(y.data()) : "memory");
    } else {
      const size_t mark = tape.mark();
      VarF y;
      {
        autograd::Recording recording(tape);
        y = attention(x, x, mask);
      }
      tape.seed(y, dy);
      tape.backward(mark);
      tape.rewind(mark);
    }
  };
  for (int i = 0; i < 200; ++i) body();
  std::vector<double> us;
#if defined(PROBE)
  fork_probe_on = pool_probe_on = gemm_probe_on = true;
#endif
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  const double n = iters;
#if defined(PROBE)
  std::printf("pool: %.1f jobs/call; caller in its tasks %.1f us/call, waiting for the worker %.1f us/call; caller ran %.1f %% of tasks\n",
              pool_jobs / n, pool_main_us / n, pool_wait_us / n, 100.0 * pool_main_tasks / pool_tasks);
  for (auto& [site, v] : fork_sites) {
    const std::string name(site);
    std::printf("%6.2f forks/call %8.1f us/call  %s\n", v.first / n, v.second / n, name.substr(name.find("Body = "), 150).c_str());
  }
#endif
  std::sort(us.begin(), us.end());
  std::printf("mode %d: median %.1f us  p10 %.1f  p90 %.1f\n", mode, us[us.size() / 2], us[us.size() / 10], us[us.size() * 9 / 10]);
}
