// C (m×n) += Aᵀ·B, A stored k×m, B stored k×n (row stride ldb), one thread, hot, three C's in
// turn (dW_Q, dW_K, dW_V): oneDNN's sgemm, the small-matrix kernel on B's 16-column panels copied
// first (what cpu/small_gemm.hpp now does for Aᵀ·B), and Eigen's kernel of a build without -march.
// Median GFLOP/s over 9 timings [slowest–fastest], the variants alternated, after a warm-up call. Built by run_wgrad.sh.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
#include <algorithm>
#include <omp.h>
#include <dnnl.h>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
void copyb(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  alignas(64) static float panel[4096 * 16];
  for (int64_t j = 0; j < n; j += 16) {
    for (int64_t p = 0; p < k; ++p) std::memcpy(panel + p * 16, B + p * ldb + j, 64);
    cpu::detail::small_gemm_panel<2, true>(m, k, A, lda, panel, 16, C + j, ldc, 1.f, 1.f);
  }
}
int main(int argc, char** argv) {
  omp_set_num_threads(1);
  for (auto [m, n, k, ldbf] : std::vector<std::array<int64_t,4>>{{256,256,64,3},{256,256,64,1},{256,256,128,1},{256,256,256,1},{512,512,64,1},{512,512,128,1},{256,1024,64,1},{1024,256,64,1}}) {
    const int64_t ldb = n * ldbf;
    std::vector<float> x(k * m), g(k * ldb), C(3 * m * n, 0.f);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) * 0.1f;
    for (size_t i = 0; i < g.size(); ++i) g[i] = float(i % 5) * 0.1f;
    auto call = [&](int v, int i) {
      float* c = C.data() + i * m * n;
      const float* b = g.data() + (ldbf == 3 ? i * n : 0);
      if (v == 0) dnnl_sgemm('T', 'N', m, n, k, 1.f, x.data(), m, b, ldb, 1.f, c, n);
      else if (v == 1) copyb(m, n, k, x.data(), m, b, ldb, c, n);
      else cpu::detail::gemm_single<float>(Trans::T, Trans::N, m, n, k, 1.f, x.data(), m, b, ldb, 1.f, c, n);
    };
    for (int v = 0; v < 3; ++v) call(v, 0);  // warm-up (oneDNN's first call generates its kernel)
    // The variants alternate within each repetition, so that a slow phase of the host hits all three.
    std::vector<double> ts[3];
    const int it = std::max<int>(5, 2e8 / (2.0 * m * n * k * 3));
    for (int rep = 0; rep < 9; ++rep)
      for (int v = 0; v < 3; ++v) {
        auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < it; ++r)
          for (int i = 0; i < 3; ++i) call(v, i);
        ts[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / it / 3);
      }
    const char* names[] = {"onednn", "panel_copyB", "eigen"};
    for (int v = 0; v < 3; ++v) {
      std::sort(ts[v].begin(), ts[v].end());
      printf("m%4ld n%4ld k%4ld ldb%4ld %-12s %6.1f GFLOP/s [%5.1f-%5.1f]\n", m, n, k, ldb, names[v],
             2.0 * m * n * k / ts[v][4] * 1e-9, 2.0 * m * n * k / ts[v][8] * 1e-9, 2.0 * m * n * k / ts[v][0] * 1e-9);
    }
  }
}
