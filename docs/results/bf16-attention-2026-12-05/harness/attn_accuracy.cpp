// The bf16 attention forward at inference (InferenceScope) against the same layer in double with
// the bf16 weights, biases and input widened: normwise relative error max|o − o_ref| / max|o_ref|,
// B1 L64 d256 h4 causal and B2 L40 d64 h4 with key padding.
#include <cstdio>
#include <cmath>
#include <vector>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
using bf16 = mnemo::bfloat16;
int main() {
  struct Case { int64_t batch, len, d, heads; bool pad; };
  for (const Case c : {Case{1, 64, 256, 4, false}, Case{2, 40, 64, 4, true}, Case{1, 128, 256, 4, false}}) {
    nn::ParameterStore<bf16, Cpu> sb(7);
    nn::MultiHeadAttention<bf16, Cpu> mb(sb, "a", c.d, c.heads, true, 0.2);
    nn::ParameterStore<double, Cpu> sd(7);
    nn::MultiHeadAttention<double, Cpu> md(sd, "a", c.d, c.heads, true, 0.2);
    for (int i = 0; i < 4; ++i) {
      for (int64_t j = 0; j < c.d * c.d; ++j) md.weight(i).value[j] = double(float(mb.weight(i).value[j]));
      for (int64_t j = 0; j < c.d; ++j) {
        mb.bias(i)->value[j] = bf16(0.01f * float((j * 5 + i) % 9) - 0.04f);
        md.bias(i)->value[j] = double(float(mb.bias(i)->value[j]));
      }
    }
    Tensor<bf16, Cpu> xb(Shape{c.batch, c.len, c.d});
    Tensor<double, Cpu> xd(Shape{c.batch, c.len, c.d});
    const RngKey key{3, 1};
    for (int64_t i = 0; i < xb.numel(); ++i) { xb[i] = bf16(float(key.normal(uint64_t(i)))); xd[i] = double(float(xb[i])); }
    std::vector<uint8_t> pad(size_t(c.batch * c.len), 0);
    if (c.pad) for (int64_t k = c.len - 7; k < c.len; ++k) pad[size_t((c.batch - 1) * c.len + k)] = 1;
    const auto padding = Tensor<uint8_t, Cpu>::from_host({c.batch, c.len}, pad);
    nn::AttentionMask<Cpu> mask; mask.causal = true; if (c.pad) mask.key_padding = &padding;
    autograd::NoGrad ng;
    nn::InferenceScope scope;
    const auto ob = mb(autograd::Var<bf16, Cpu>(xb), autograd::Var<bf16, Cpu>(xb), mask).value();
    const auto od = md(autograd::Var<double, Cpu>(xd), autograd::Var<double, Cpu>(xd), mask).value();
    double num = 0, den = 0;
    for (int64_t i = 0; i < od.numel(); ++i) { num = std::max(num, std::abs(double(float(ob[i])) - od[i])); den = std::max(den, std::abs(od[i])); }
    std::printf("B%ld L%ld d%ld h%ld%s: normwise relative error of bf16 against double %.3e\n", c.batch, c.len, c.d, c.heads, c.pad ? " padded" : "", num / den);
  }
}
