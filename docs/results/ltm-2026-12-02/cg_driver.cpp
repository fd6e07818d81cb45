// callgrind driver: `cg_driver ltm N` or `cg_driver stream N`; collect with
// --toggle-collect='*timed_ltm*' / '*timed_stream*' (one call per iteration, after a warm-up).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "cpu/memformer_stream_shape.hpp"
#include "mnemo/mnemo.hpp"
using namespace mnemo;
Tensor<float, Cpu> rnd(const Shape& s, uint64_t seed) { Tensor<float, Cpu> t(s); RngKey k{seed, 1}; for (int64_t i = 0; i < t.numel(); ++i) t[i] = k.normal(i); return t; }
struct Ltm {
  nn::ParameterStore<float, Cpu> store{1};
  memory::ContinuousMemory<float, Cpu> ltm;
  Tensor<float, Cpu> x = rnd({8, 512, 512}, 2), q = rnd({8, 8, 512, 64}, 3);
  memory::ContinuousState<float, Cpu> s;
  static memory::ContinuousMemoryConfig cfg() { auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = 512; c.segment_length = 512; return c; }
  Ltm() : ltm(store, "ltm", 512, 8, cfg()), s(ltm.initial_state(8)) { autograd::NoGrad off; for (int i = 0; i < 8; ++i) ltm.write_forward(x, nullptr, s, nullptr); }
};
__attribute__((noinline)) float timed_ltm(Ltm& f) {
  autograd::NoGrad off;
  const auto c = f.ltm.write_forward(f.x, nullptr, f.s, nullptr);
  double kl = 0;
  auto z = f.ltm.read_forward(c, f.q, f.s, nullptr, &kl);
  return z[0];
}
train::Segment seg(int64_t L, int64_t vocab, uint64_t seed) {
  train::Segment s{Tensor<int32_t, Cpu>(Shape{1, L}), {}};
  const RngKey key{seed, 0x5e9};
  for (int64_t i = 0; i < s.tokens.numel(); ++i) s.tokens[i] = static_cast<int32_t>(key.bits(static_cast<uint64_t>(i)) % static_cast<uint32_t>(vocab));
  return s;
}
using Model = models::Memformer<float, Cpu>;
__attribute__((noinline)) float timed_stream(Model& m, Model::State& st, const train::Segment& a, const train::Segment& b) {
  const auto out = m.step(st, a, &b);
  st = out.next;
  return out.logits.data()[0];
}
int main(int argc, char** argv) {
  const int n = argc > 2 ? atoi(argv[2]) : 2;
  float acc = 0;
  if (argc > 1 && !strcmp(argv[1], "ltm")) {
    Ltm f;
    acc += timed_ltm(f);  // warm-up (also collected: run with n and n+1 to difference)
    for (int i = 0; i < n; ++i) acc += timed_ltm(f);
  } else {
    const auto cfg = bench::memformer_stream_config();
    Model m(cfg, 2);
    auto st = m.initial_state(1);
    std::vector<train::Segment> segs;
    for (uint64_t i = 0; i < 8; ++i) segs.push_back(seg(cfg.segment_length, cfg.vocab, 100 + i));
    acc += timed_stream(m, st, segs[0], segs[1]);
    for (int i = 0; i < n; ++i) acc += timed_stream(m, st, segs[(i + 1) % 8], segs[(i + 2) % 8]);
  }
  std::printf("%g\n", acc);
}
