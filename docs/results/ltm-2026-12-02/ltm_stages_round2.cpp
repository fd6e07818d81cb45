// Stage-by-stage CPU/wall time of the LTM read+update, second round (profiling harness; `#define private public` reaches banded_gemm).
// Build: g++ -O3 -DNDEBUG -march=native -std=gnu++20 -DMNEMO_CPU_GEMM_ONEDNN -Iinclude -isystem /usr/include/eigen3 ltm_stages_round2.cpp -ldnnl -lgomp -lpthread; run MNEMO_NUM_THREADS=1|2 ./a.out 5
#include <ctime>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>
#include <algorithm>
#include <bits/stdc++.h>
#include <Eigen/Dense>
#define private public
#include "mnemo/mnemo.hpp"
#undef private
using namespace mnemo;
static double cpu_ms() { timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e3 + t.tv_nsec * 1e-6; }
static double wall_ms() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
std::map<std::string, std::vector<std::pair<double,double>>> times;
std::vector<std::string> order;
struct Stage { std::string n; double c0 = cpu_ms(), w0 = wall_ms(); Stage(const char* s) : n(s) { if (!times.count(n)) order.push_back(n); } ~Stage() { times[n].push_back({cpu_ms() - c0, wall_ms() - w0}); } };
Tensor<float, Cpu> rnd(const Shape& s, uint64_t seed) { Tensor<float, Cpu> t(s); RngKey k{seed, 1}; for (int64_t i = 0; i < t.numel(); ++i) t[i] = k.normal(i); return t; }
int main(int argc, char** argv) {
  const int64_t B = 8, L = 512, e = 512, H = 8, N = 512, dh = 64, n = B * H * L;
  using BT = BackendTraits<Cpu>;
  auto& ctx = BT::default_context();
  auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = N; c.segment_length = L;
  nn::ParameterStore<float, Cpu> store{1};
  memory::ContinuousMemory<float, Cpu> ltm{store, "ltm", e, H, c};
  auto x = rnd({B, L, e}, 2), q = rnd({B, H, L, dh}, 3);
  auto s = ltm.initial_state(B);
  autograd::NoGrad off;
  for (int i = 0; i < 8; ++i) ltm.write_forward(x, nullptr, s, nullptr);
  const auto& ops = ltm.operators()->for_length(L);
  Tensor<float, Cpu> z({B, L, e}), xt({B, L, e}), co({B, N, e}), v({B, N, e}), vh({B, H, N, dh}), r({B, H, L, N}), ch({B, H, L, dh}), mg({B, L, e}), zo({B, L, e});
  Tensor<float, Cpu> mu({n}), s2({n}), kl({n}), sc({2, n});
  Tensor<float, Cpu> scratch(Shape{cpu::conv3_winograd_scratch(B, L, e)});
  { double k; auto o = ltm.read_forward(s.coefficients, q, s, nullptr, &k); }
  // realistic scores
  memory::ContinuousMemory<float, Cpu>::ReadSaved sv; { double k; ltm.read_forward(s.coefficients, q, s, &sv, &k); }
  sc = sv.scores;
  const int reps = argc > 1 ? atoi(argv[1]) : 5;
  for (int it = 0; it < reps; ++it) {
    { Stage st("0 total LTM write+read"); auto cf = ltm.write_forward(x, nullptr, s, nullptr); double k; auto o = ltm.read_forward(cf, q, s, nullptr, &k); }
    { Stage st("0r read_forward saved"); memory::ContinuousMemory<float, Cpu>::ReadSaved sv2; double k; auto o = ltm.read_forward(s.coefficients, q, s, &sv2, &k); }
    { Stage st("0r read_forward blocked"); double k; auto o = ltm.read_forward(s.coefficients, q, s, nullptr, &k); }
    { Stage st("0w write_forward"); auto cf = ltm.write_forward(x, nullptr, s, nullptr); }
    { Stage st("1 winograd conv"); cpu::conv3_winograd(x.data(), ltm.gate_weight()->value.data(), z.data(), B, L, e, scratch.data()); }
    { Stage st("2 bias+sigmoid gate"); BT::add_row_broadcast(ctx, z.data(), ltm.gate_bias()->value.data(), z.data(), B*L, e); BT::sigmoid_gate_forward(ctx, x.numel(), x.data(), z.data(), xt.data()); }
    { Stage st("3 fit_new banded"); ltm.banded_gemm(ops.fit_new_bands, Trans::T, ops.fit_new.data(), N, xt.data(), L * e, 0.f, co.data(), B); }
    { Stage st("4 contract banded"); ltm.banded_gemm(ops.contract_bands, Trans::N, ops.contract.data(), N, s.coefficients.data(), N * e, 1.f, co.data(), B); }
    { Stage st("5 V gemm"); BT::gemm(ctx, Trans::N, Trans::N, B * N, e, e, 1.f, co.data(), e, 0, ltm.value_weight().value.data(), e, 0, 0.f, v.data(), e, 0, 1); }
    { Stage st("6 permute V"); BT::permute_0213(ctx, v.data(), vh.data(), B, N, H, dh); }
    { Stage st("7 density params"); BT::density_parameters_forward(ctx, sc.data(), sc.data() + n, mu.data(), s2.data(), kl.data(), n, 1e-4f, 0.0025f); }
    { Stage st("8 gaussian expectation"); BT::gaussian_expectation_forward(ctx, mu.data(), s2.data(), ltm.operators()->centres().data(), ltm.operators()->widths_sq().data(), r.data(), n, N); }
    { Stage st("9 rV gemm batched 64"); BT::gemm(ctx, Trans::N, Trans::N, L, dh, N, 1.f, r.data(), N, L * N, vh.data(), dh, N * dh, 0.f, ch.data(), dh, L * dh, B * H); }
    { Stage st("a permute c"); BT::permute_0213(ctx, ch.data(), mg.data(), B, H, L, dh); }
    { Stage st("b out gemm"); BT::gemm(ctx, Trans::N, Trans::N, B * L, e, e, 1.f, mg.data(), e, 0, ltm.output_weight().value.data(), e, 0, 0.f, zo.data(), e, 0, 1); }
  }
  double sc_=0, sw=0;
  for (auto& k : order) { auto vs = times[k]; std::vector<double> cs, ws; for (auto& p : vs) { cs.push_back(p.first); ws.push_back(p.second);} std::sort(cs.begin(), cs.end()); std::sort(ws.begin(), ws.end());
    if (k[0] != '0') { sc_ += cs[cs.size()/2]; sw += ws[ws.size()/2]; }
    std::printf("%-28s cpu %8.2f ms  wall %8.2f ms (min %7.2f)\n", k.c_str(), cs[cs.size() / 2], ws[ws.size()/2], ws.front()); }
  std::printf("sum of stages cpu %.1f wall %.1f\n", sc_, sw);
  for (int64_t i = 0; i < 4; ++i) std::printf("mu %g s2 %g\n", mu[i*1000], s2[i*1000]);
}
