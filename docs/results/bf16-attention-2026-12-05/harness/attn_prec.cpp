// B1 L64 d256 h4 causal self-attention forward (nothing saved) in float and bfloat16, one thread,
// and the same shapes' projection GEMMs alone (64×768×256 + 64×256×256) in each precision.
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
using Clock = std::chrono::steady_clock;
template <class T>
Tensor<T, Cpu> normal(const Shape& s, uint64_t seed) {
  Tensor<T, Cpu> t(s); const RngKey key{seed, 7};
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<T>(key.normal(static_cast<uint64_t>(i)));
  return t;
}
template <class F> double med_us(F&& f) {
  for (int i = 0; i < 50; ++i) f();
  std::vector<double> t;
  for (int r = 0; r < 15; ++r) { auto t0 = Clock::now(); for (int i = 0; i < 200; ++i) f(); t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / 200 * 1e6); }
  std::sort(t.begin(), t.end()); return t[7];
}
template <class T> void run(const char* name) {
  nn::ParameterStore<T, Cpu> store(1);
  nn::MultiHeadAttention<T, Cpu> att(store, "a", 256, 4);
  const auto x = normal<T>(Shape{1, 64, 256}, 2);
  nn::AttentionMask<Cpu> mask; mask.causal = true;
  autograd::NoGrad ng;
  const double a = med_us([&] { auto y = att.forward(x, x, mask, nullptr); asm volatile("" ::"r"(y.data())); });
  auto w = normal<T>(Shape{256, 768}, 3); auto o = normal<T>(Shape{256, 256}, 4);
  Tensor<T, Cpu> y(Shape{64, 768}), z(Shape{64, 256});
  auto& ctx = BackendTraits<Cpu>::default_context();
  using C = typename Precision<T>::compute;
  const double g = med_us([&] {
    BackendTraits<Cpu>::gemm(ctx, Trans::N, Trans::N, 64, 768, 256, C(1), x.data(), 256, 0, w.data(), 768, 0, C(0), y.data(), 768, 0, 1);
    BackendTraits<Cpu>::gemm(ctx, Trans::N, Trans::N, 64, 256, 256, C(1), x.data(), 256, 0, o.data(), 256, 0, C(0), z.data(), 256, 0, 1);
  });
  std::printf("%s attention forward %.1f us, projection GEMMs alone %.1f us, rest %.1f us\n", name, a, g, a - g);
}
int main() { for (int r = 0; r < 3; ++r) { run<float>("fp32"); run<bfloat16>("bf16"); } }
