// Hashes (FNV-1a over the bits) of MultiHeadAttention<float, Cpu> outputs: forward without P, forward with P,
// and the backward's dx_q, dx_kv, dW_K, causal, 2 batch rows, d 256, 4 heads, at 20, 64, 150 queries with a
// cache offset of 0 and 30. Build against two include/ trees (oneDNN provider) and compare the lines.
#include <cstdio>
#include <cstring>
#include <cstdint>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
static uint64_t h(const float* p, int64_t n) { uint64_t x = 1469598103934665603ull; for (int64_t i = 0; i < n; ++i) { uint32_t u; std::memcpy(&u, p + i, 4); x = (x ^ u) * 1099511628211ull; } return x; }
int main() {
  for (int64_t L : {20, 64, 150}) for (int64_t off : {0, 30}) {
    nn::ParameterStore<float, Cpu> store(5);
    nn::MultiHeadAttention<float, Cpu> attn(store, "a", 256, 4);
    auto rnd = [](Shape s, uint64_t seed) { Tensor<float, Cpu> t(s); RngKey k{seed, 3}; for (int64_t i = 0; i < t.numel(); ++i) t[i] = k.normal(i); return t; };
    const auto xq = rnd(Shape{2, L, 256}, 1), xkv = rnd(Shape{2, L + off, 256}, 2), dy = rnd(Shape{2, L, 256}, 3);
    nn::AttentionMask<Cpu> mask; mask.causal = true; mask.query_offset = off;
    Tensor<float, Cpu> y0;
    { autograd::NoGrad ng; y0 = attn.forward(xq, xkv, mask, nullptr); }
    nn::MultiHeadAttention<float, Cpu>::Saved saved;
    auto y1 = attn.forward(xq, xkv, mask, &saved);
    auto g = attn.backward(saved, dy, true, true);
    std::printf("L %ld off %ld: y(no P) %016lx y(P) %016lx dxq %016lx dxkv %016lx dWk %016lx\n", (long)L, (long)off, h(y0.data(), y0.numel()), h(y1.data(), y1.numel()), h(g.dxq.data(), g.dxq.numel()), h(g.dxkv.data(), g.dxkv.numel()), h(attn.weight(1).grad.data(), attn.weight(1).grad.numel()));
  }
}
