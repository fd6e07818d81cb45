// banded fit/contract at several band heights and floors, one or two threads
#include <bits/stdc++.h>
#include <chrono>
#include <cstdio>
#include <algorithm>
#include <Eigen/Dense>
#define private public
#include "mnemo/mnemo.hpp"
#undef private
using namespace mnemo;
static double wall_ms() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
std::vector<memory::OperatorBand> bands_h(const memory::HostMatrix& op, double floor, int64_t H) {
  const int64_t rows = op.rows(), inner = op.cols();
  const double budget = 0.5 * floor * op.cwiseAbs().maxCoeff();
  std::vector<memory::OperatorBand> bands;
  for (int64_t r0 = 0; r0 < rows; r0 += H) {
    const int64_t r1 = std::min(rows, r0 + H);
    int64_t lo = inner, hi = 0;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t first = 0, last = inner;
      for (double left = 0; first < inner && (left += std::abs(op(r, first))) <= budget;) ++first;
      for (double right = 0; last > first && (right += std::abs(op(r, last - 1))) <= budget;) --last;
      if (first < last) { lo = std::min(lo, first); hi = std::max(hi, last); }
    }
    if (lo >= hi) lo = hi = 0; else { lo = lo / 16 * 16; hi = std::min(inner, (hi + 15) / 16 * 16); }
    bands.push_back(memory::OperatorBand{r0, r1, lo, hi});
  }
  return bands;
}
Tensor<float, Cpu> rnd(const Shape& s, uint64_t seed) { Tensor<float, Cpu> t(s); RngKey k{seed, 1}; for (int64_t i = 0; i < t.numel(); ++i) t[i] = k.normal(i); return t; }
int main() {
  const int64_t B = 8, L = 512, e = 512, N = 512;
  auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = N; c.segment_length = L;
  nn::ParameterStore<float, Cpu> store{1};
  memory::ContinuousMemory<float, Cpu> ltm{store, "ltm", e, 8, c};
  memory::ContinuousBasis basis(c.basis);
  const auto inf = memory::contraction_operator(basis, L, c.samples, c.tau, c.ridge_lambda, c.zero_pad);
  const auto M = (Eigen::Index)c.samples;
  memory::HostMatrix old_rows = inf.topRows(M), new_rows = inf.bottomRows(L);
  memory::HostMatrix contract = old_rows.transpose() * basis.evaluate(memory::uniform_sample_positions(c.samples));
  const auto& ops = ltm.operators()->for_length(L);
  auto xt = rnd({B, L, e}, 2), prev = rnd({B, N, e}, 3); Tensor<float, Cpu> co({B, N, e});
  for (int64_t H : {16, 32, 64, 128}) {
    auto bf = bands_h(new_rows.transpose(), memory::kOperatorBandFloor, H), bc = bands_h(contract, memory::kOperatorBandFloor, H);
    double fl = 0; for (auto* bs : {&bf, &bc}) for (auto& b : *bs) fl += 2.0*(b.row_end-b.row_begin)*(b.k_end-b.k_begin)*e*B;
    std::vector<double> t;
    for (int it = 0; it < 9; ++it) { double w0 = wall_ms();
      ltm.banded_gemm(bf, Trans::T, ops.fit_new.data(), N, xt.data(), L * e, 0.f, co.data(), B);
      ltm.banded_gemm(bc, Trans::N, ops.contract.data(), N, prev.data(), N * e, 1.f, co.data(), B);
      t.push_back(wall_ms() - w0); }
    std::sort(t.begin(), t.end());
    std::printf("H %3ld: %.3f GFLOP  median %.2f ms (min %.2f)  %.1f GFLOP/s\n", (long)H, fl*1e-9, t[4], t[0], fl*1e-6/t[4]);
  }
}
