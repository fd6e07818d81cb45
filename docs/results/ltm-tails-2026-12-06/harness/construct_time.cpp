#include <chrono>
#include <cstdio>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
int main() {
  for (int64_t n : {256, 512, 1024}) {
    auto c = memory::ContinuousMemoryConfig::lm(); c.basis.count = n; c.segment_length = 512;
    auto t0 = std::chrono::steady_clock::now();
    memory::ContinuousOperators<float, Cpu> ops(c, BackendTraits<Cpu>::default_context());
    auto t1 = std::chrono::steady_clock::now();
    memory::ContinuousOperators<double, Cpu> opsd(c, BackendTraits<Cpu>::default_context());
    auto t2 = std::chrono::steady_clock::now();
    std::printf("N %ld: float operators %.1f ms, double (no bands) %.1f ms\n", (long)n, std::chrono::duration<double, std::milli>(t1 - t0).count(), std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
}
