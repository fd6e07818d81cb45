// callgrind driver: `cg_bf16 N`: N streaming steps of Memformer<bfloat16, Cpu> after a warm-up;
// collect with --toggle-collect='*timed_bf16_stream*'.
#include <cstdio>
#include <cstdlib>
#include "cpu/memformer_stream_shape.hpp"
#include "mnemo/mnemo.hpp"
using namespace mnemo;
train::Segment seg(int64_t L, int64_t vocab, uint64_t seed) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{1, L}), {}};
  const RngKey key{seed, 0x5e9};
  for (int64_t i = 0; i < s.tokens.numel(); ++i) s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return s;
}
using Model = models::Memformer<bfloat16, Cpu>;
__attribute__((noinline)) float timed_bf16_stream(Model& m, Model::State& st, const train::Segment& a, const train::Segment& b) {
  const auto out = m.step(st, a, &b);
  st = out.next;
  return static_cast<float>(out.logits.data()[0]);
}
int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 2;
  const auto cfg = bench::memformer_stream_config();
  Model model(cfg, 2);
  auto st = model.initial_state(1);
  const auto a = seg(cfg.segment_length, cfg.vocab, 100), b = seg(cfg.segment_length, cfg.vocab, 101);
  float acc = timed_bf16_stream(model, st, a, b);
  for (int i = 0; i < n; ++i) acc += timed_bf16_stream(model, st, a, b);
  std::printf("%f\n", acc);
}
