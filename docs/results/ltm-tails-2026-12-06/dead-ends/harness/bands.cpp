#include <cstdio>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
int main() {
  auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = 512; c.segment_length = 512;
  memory::ContinuousBasis basis(c.basis);
  const int64_t L = 512, e = 512, B = 8;
  const auto inf = memory::contraction_operator(basis, L, c.samples, c.tau, c.ridge_lambda, c.zero_pad);
  const auto M = (Eigen::Index)c.samples;
  memory::HostMatrix old_rows = inf.topRows(M), new_rows = inf.bottomRows(L);
  memory::HostMatrix contract = old_rows.transpose() * basis.evaluate(memory::uniform_sample_positions(c.samples));
  memory::HostMatrix fn = new_rows.transpose();
  std::printf("lambda %g tau %g M %ld\n", c.ridge_lambda, c.tau, (long)M);
  for (double fl : {9.313225746154785e-10, 1.49e-8, 5.96e-8, 2.4e-7}) {
    auto f = [&](const memory::HostMatrix& op) { double s = 0; for (auto& b : memory::operator_bands(op, fl)) s += 2.0*(b.row_end-b.row_begin)*(b.k_end-b.k_begin)*e*B; return s*1e-9; };
    std::printf("floor %.3g: fit_new %.3f contract %.3f GFLOP\n", fl, f(fn), f(contract));
  }
  // exact-zero count: entries below 1e-45 relative
  double mx = contract.cwiseAbs().maxCoeff();
  std::printf("contract max %g; row 200 profile:", mx);
  for (int k = 0; k < 512; k += 16) std::printf(" %.1e", std::abs(contract(200, k)) / mx);
  std::printf("\nfit_new max %g; row 300 profile:", fn.cwiseAbs().maxCoeff());
  for (int k = 0; k < 512; k += 16) std::printf(" %.1e", std::abs(fn(300, k)) / fn.cwiseAbs().maxCoeff());
  std::printf("\n");
}
