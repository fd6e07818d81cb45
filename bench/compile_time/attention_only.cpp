// bench/compile_time/attention_only.cpp — a user translation unit that needs only attention: it
// includes <mnemo/nn/attention.hpp> and the CPU backend, nothing else, and runs README.md's
// snippet (one causal self-attention call). measure.sh times its compilation in both modes
// (docs/compile_time.md).
#include <cstdio>

#include <mnemo/backend/cpu.hpp>  // BackendTraits<Cpu>: the layers are backend-agnostic templates
#include <mnemo/nn/attention.hpp>

int main() {
  using namespace mnemo;
  nn::ParameterStore<float, Cpu> params(/*seed=*/42);
  nn::MultiHeadAttention<float, Cpu> attn(params, "attn", /*d_model=*/64, /*heads=*/4);
  Tensor<float, Cpu> x(Shape{2, 10, 64});
  const RngKey noise{/*seed=*/7};
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>(noise.normal(static_cast<uint64_t>(i)));
  nn::AttentionMask<Cpu> mask;
  mask.causal = true;
  const Tensor<float, Cpu> y = attn(x, x, mask).value();
  double checksum = 0;
  for (float v : y.to_host()) checksum += v;
  std::printf("attention output %s, checksum %.6f\n", y.shape().str().c_str(), checksum);
}
