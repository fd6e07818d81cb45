// Stage-by-stage CPU time of the LTM read+update (profiling harness, not committed).
#include <ctime>
#include <cstdio>
#include <map>
#include <string>
#include <vector>
#include <algorithm>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
static double cpu_ms() { timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec * 1e3 + t.tv_nsec * 1e-6; }
std::map<std::string, std::vector<double>> times;
struct Stage { const char* n; double t0 = cpu_ms(); Stage(const char* s) : n(s) {} ~Stage() { times[n].push_back(cpu_ms() - t0); } };
Tensor<float, Cpu> rnd(const Shape& s, uint64_t seed) { Tensor<float, Cpu> t(s); RngKey k{seed, 1}; for (int64_t i = 0; i < t.numel(); ++i) t[i] = k.normal(i); return t; }
int main(int argc, char** argv) {
  const int64_t B = 8, L = 512, e = 512, H = 8, N = 512, dh = 64;
  using BT = BackendTraits<Cpu>;
  auto& ctx = BT::default_context();
  auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = N; c.segment_length = L;
  nn::ParameterStore<float, Cpu> store{1};
  memory::ContinuousMemory<float, Cpu> ltm{store, "ltm", e, H, c};
  auto x = rnd({B, L, e}, 2), q = rnd({B, H, L, dh}, 3);
  auto s = ltm.initial_state(B);
  autograd::NoGrad off;
  for (int i = 0; i < 2; ++i) ltm.write_forward(x, nullptr, s, nullptr);
  const auto& ops = ltm.operators()->for_length(L);
  Tensor<float, Cpu> u({B, L, 3 * e}), z({B, L, e}), xt({B, L, e}), co({B, N, e}), v({B, N, e}), vh({B, H, N, dh}), r({B, H, L, N}), ch({B, H, L, dh}), mg({B, L, e}), zo({B, L, e});
  Tensor<float, Cpu> mu({B * H * L}), s2({B * H * L}), kl({B * H * L}), sc({2, B * H * L});
  for (int64_t i = 0; i < sc.numel(); ++i) sc[i] = 0.3f * std::sin(0.01 * i);
  for (int64_t i = 0; i < u.numel(); ++i) u[i] = 0.1f;
  const int reps = argc > 1 ? atoi(argv[1]) : 5;
  for (int it = 0; it < reps; ++it) {
    { Stage st("total LTM write+read"); auto cf = ltm.write_forward(x, nullptr, s, nullptr); double k; auto o = ltm.read_forward(cf, q, s, nullptr, &k); }
    { Stage st("gate gemm 4096x512x1536"); BT::gemm(ctx, Trans::N, Trans::N, B * L, e, 3 * e, 1.f, u.data(), 3 * e, 0, ltm.gate_weight()->value.data(), e, 0, 0.f, z.data(), e, 0, 1); }
    { Stage st("sigmoid gate"); BT::sigmoid_gate_forward(ctx, x.numel(), x.data(), z.data(), xt.data()); }
    { Stage st("fit_new gemm x8"); for (int b = 0; b < B; ++b) BT::gemm(ctx, Trans::T, Trans::N, N, e, L, 1.f, ops.fit_new.data(), N, 0, xt.data() + b * L * e, e, 0, 0.f, co.data() + b * N * e, e, 0, 1); }
    { Stage st("contract gemm x8"); for (int b = 0; b < B; ++b) BT::gemm(ctx, Trans::N, Trans::N, N, e, N, 1.f, ops.contract.data(), N, 0, s.coefficients.data() + b * N * e, e, 0, 1.f, co.data() + b * N * e, e, 0, 1); }
    { Stage st("V gemm"); BT::gemm(ctx, Trans::N, Trans::N, B * N, e, e, 1.f, co.data(), e, 0, ltm.value_weight().value.data(), e, 0, 0.f, v.data(), e, 0, 1); }
    { Stage st("permute V"); BT::permute_0213(ctx, v.data(), vh.data(), B, N, H, dh); }
    { Stage st("density params"); BT::density_parameters_forward(ctx, sc.data(), sc.data() + B * H * L, mu.data(), s2.data(), kl.data(), B * H * L, 1e-4f, 1.f); }
    { Stage st("gaussian expectation"); BT::gaussian_expectation_forward(ctx, mu.data(), s2.data(), ltm.operators()->centres().data(), ltm.operators()->widths_sq().data(), r.data(), B * H * L, N); }
    { Stage st("rV gemm batched 64"); BT::gemm(ctx, Trans::N, Trans::N, L, dh, N, 1.f, r.data(), N, L * N, vh.data(), dh, N * dh, 0.f, ch.data(), dh, L * dh, B * H); }
    { Stage st("permute c"); BT::permute_0213(ctx, ch.data(), mg.data(), B, H, L, dh); }
    { Stage st("out gemm"); BT::gemm(ctx, Trans::N, Trans::N, B * L, e, e, 1.f, mg.data(), e, 0, ltm.output_weight().value.data(), e, 0, 0.f, zo.data(), e, 0, 1); }
  }
  for (auto& [k, vs] : times) { std::sort(vs.begin(), vs.end()); std::printf("%-28s median %8.2f ms  min %8.2f max %8.2f\n", k.c_str(), vs[vs.size() / 2], vs.front(), vs.back()); }
}
