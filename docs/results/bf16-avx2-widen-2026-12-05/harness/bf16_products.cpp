// The streaming step's 64-row products C (64×n) = A·B on one thread: mnemo's AVX2 bfloat16 kernel
// (cpu/gemm_bf16_avx2.hpp's gemm_block; A, B and C bfloat16, as in a bf16 model) against oneDNN's
// fp32 sgemm (A, B and C float). hot: one B; cold: B cycled over ~48 MB of copies (the step reads each weight once).
// Built twice by run_products.sh, against the include/ before the change (-DOLD_KERNEL: the panel
// buffer was bfloat16, the buffers the harness's own) and after (the library's aligned scratch). Prints the median GFLOP/s of 9 timings [slowest–fastest].
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <vector>

#include "mnemo/mnemo.hpp"
using namespace mnemo;
namespace k2 = mnemo::cpu::bf16_avx2;

int main() {
  omp_set_num_threads(1);
#if defined(OLD_KERNEL)
  std::vector<float> a_wide(k2::kAvx2Mc * k2::kAvx2Kc), partial(k2::kAvx2Mc * k2::kAvx2Nc);
  std::vector<bfloat16> b_panel(k2::kAvx2Kc * 16);
  const k2::Avx2Buffers buffers{a_wide.data(), partial.data(), b_panel.data()};
#else
  const k2::Avx2Buffers buffers = k2::Avx2Buffers::of_this_thread();
#endif
  const std::vector<std::array<int64_t, 3>> shapes = {
      {64, 256, 256}, {64, 512, 256}, {64, 768, 256}, {64, 1024, 256}, {64, 256, 1024}, {64, 128, 256}};
  for (int cold = 0; cold < 2; ++cold)
    for (const auto& [m, n, k] : shapes) {
      const int64_t copies16 = cold ? std::max<int64_t>(1, (48 << 20) / (k * n * 2)) : 1;
      const int64_t copies32 = cold ? std::max<int64_t>(1, (48 << 20) / (k * n * 4)) : 1;
      std::vector<std::vector<bfloat16>> b16(copies16, std::vector<bfloat16>(k * n));
      std::vector<std::vector<float>> b32(copies32, std::vector<float>(k * n));
      for (auto& b : b16)
        for (size_t i = 0; i < b.size(); ++i) b[i] = bfloat16(float(i % 5) * 0.1f);
      for (auto& b : b32)
        for (size_t i = 0; i < b.size(); ++i) b[i] = float(i % 5) * 0.1f;
      std::vector<bfloat16> a16(m * k);
      std::vector<float> a32(m * k), c(m * n);
      std::vector<bfloat16> c16(m * n);
      for (size_t i = 0; i < a16.size(); ++i) a32[i] = float(a16[i] = bfloat16(float(i % 7) * 0.1f));
      int64_t next16 = 0, next32 = 0;
      const auto call = [&](int variant) {
        if (variant == 0) {
          dnnl_sgemm('N', 'N', m, n, k, 1.f, a32.data(), k, b32[next32].data(), n, 0.f, c.data(), n);
          next32 = (next32 + 1) % copies32;
        } else {
          k2::gemm_block<bfloat16>(Trans::N, Trans::N, 0, m, 0, n, k, 1.f, a16.data(), k, b16[next16].data(), n,
                                   0.f, c16.data(), n, buffers);
          next16 = (next16 + 1) % copies16;
        }
      };
      call(0), call(1);  // warm-up (oneDNN generates its kernel on the first call)
      std::vector<double> seconds[2];
      const int iterations = std::max<int>(20, static_cast<int>(1e8 / (2.0 * m * n * k)));
      for (int rep = 0; rep < 9; ++rep)
        for (int v = 0; v < 2; ++v) {
          const auto t0 = std::chrono::steady_clock::now();
          for (int i = 0; i < iterations; ++i) call(v);
          seconds[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iterations);
        }
      const char* names[] = {"fp32_onednn", "bf16_avx2"};
      const double flop = 2.0 * m * n * k;
      for (int v = 0; v < 2; ++v) {
        std::sort(seconds[v].begin(), seconds[v].end());
        std::printf("%s %ldx%ldx%ld %-12s %6.1f GFLOP/s [%5.1f-%5.1f]\n", cold ? "cold" : "hot ", m, n, k, names[v],
                    flop / seconds[v][4] * 1e-9, flop / seconds[v][8] * 1e-9, flop / seconds[v][0] * 1e-9);
      }
    }
}
