#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
static double now() { return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
int main() {
  const int64_t B = 8, L = 512, e = 512;
  std::vector<bfloat16> x(B * L * e), w(3 * e * e), z(B * L * e), bias(e);
  RngKey key{7, 1};
  for (size_t i = 0; i < x.size(); ++i) x[i] = bfloat16(key.normal(i));
  for (size_t i = 0; i < w.size(); ++i) w[i] = bfloat16(key.normal(i + 9999999) / 40.f);
  std::vector<float> scratch(cpu::conv3_winograd_scratch<bfloat16>(B, L, e));
  std::vector<double> ts;
  for (int rep = 0; rep < 9; ++rep) { double t0 = now(); cpu::conv3_winograd(x.data(), w.data(), z.data(), B, L, e, scratch.data(), bias.data()); ts.push_back(now() - t0); }
  std::sort(ts.begin(), ts.end());
  std::printf("bf16 conv B8 L512 e512: median %.2f min %.2f ms\n", ts[4], ts[0]);
}
