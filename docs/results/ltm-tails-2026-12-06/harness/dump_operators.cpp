#include <cstdio>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
int main() {
  auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = 512; c.segment_length = 512;
  memory::ContinuousBasis basis(c.basis);
  const int64_t L = 512;
  const auto inf = memory::contraction_operator(basis, L, c.samples, c.tau, c.ridge_lambda, c.zero_pad);
  const auto M = (Eigen::Index)c.samples;
  memory::HostMatrix old_rows = inf.topRows(M), new_rows = inf.bottomRows(L);
  memory::HostMatrix contract = old_rows.transpose() * basis.evaluate(memory::uniform_sample_positions(c.samples));
  memory::HostMatrix fn = new_rows.transpose();
  FILE* f = std::fopen("ops.bin", "wb");
  for (auto* m : {&fn, &contract}) { memory::HostMatrix r = *m; for (long i = 0; i < r.rows(); ++i) for (long j = 0; j < r.cols(); ++j) { double v = r(i, j); std::fwrite(&v, 8, 1, f); } }
  std::fclose(f);
  std::printf("%ld x %ld, %ld x %ld\n", (long)fn.rows(), (long)fn.cols(), (long)contract.rows(), (long)contract.cols());
}
