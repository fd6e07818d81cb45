// C (64×n) = A·B, A 64×k, B k×n row-major (a weight), one thread: oneDNN's sgemm, the small-matrix
// kernel on B's 16-column panels copied first, and the same with the next panel's rows prefetched
// while the current panel's row blocks run. hot: one B; cold: B rotated over ~48 MB of copies.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
#include <array>
#include <algorithm>
#include <omp.h>
#include <dnnl.h>
#include <immintrin.h>
#include "mnemo/mnemo.hpp"
using namespace mnemo;
alignas(64) static float panel[4096 * 16];
void copyb(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  for (int64_t j = 0; j < n; j += 16) {
    for (int64_t p = 0; p < k; ++p) std::memcpy(panel + p * 16, B + p * ldb + j, 64);
    cpu::detail::small_gemm_panel<2, false>(m, k, A, lda, panel, 16, C + j, ldc, 1.f, 0.f);
  }
}
template <int Hint>
void copyb_pf(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  // first panel's rows: prefetch all up front
  for (int64_t p = 0; p < k; ++p) _mm_prefetch(reinterpret_cast<const char*>(B + p * ldb), _MM_HINT_T0);
  const int64_t blocks = (m + 5) / 6;
  for (int64_t j = 0; j < n; j += 16) {
    for (int64_t p = 0; p < k; ++p) std::memcpy(panel + p * 16, B + p * ldb + j, 64);
    const bool next = j + 16 < n;
    int64_t i = 0, blk = 0;
    for (; i < m; i += 6, ++blk) {
      if (next) {
        const int64_t p0 = k * blk / blocks, p1 = k * (blk + 1) / blocks;
        for (int64_t p = p0; p < p1; ++p)
          _mm_prefetch(reinterpret_cast<const char*>(B + p * ldb + j + 16), static_cast<_mm_hint>(Hint));
      }
      const int64_t r = std::min<int64_t>(6, m - i);
      if (r == 6) cpu::detail::small_gemm_block<6, 2>(k, A + i * lda, lda, panel, 16, C + i * ldc + j, ldc, 1.f, 0.f);
      else cpu::detail::small_gemm_panel<2, false>(r, k, A + i * lda, lda, panel, 16, C + i * ldc + j, ldc, 1.f, 0.f);
    }
  }
}
alignas(64) static float packed[1024 * 256];
// B's columns [j0, j0 + nb) packed row by row (each row read contiguously) into panels of 16
// columns (panel q at packed + q·k·16), then every panel's row blocks.
template <int NB>
void packblock(int64_t m, int64_t n, int64_t k, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc) {
  for (int64_t j0 = 0; j0 < n; j0 += NB) {
    const int64_t nb = std::min<int64_t>(NB, n - j0), panels = nb / 16;
    for (int64_t p = 0; p < k; ++p) {
      const float* row = B + p * ldb + j0;
      for (int64_t q = 0; q < panels; ++q) _mm256_store_ps(packed + q * k * 16 + p * 16, _mm256_loadu_ps(row + 16 * q)),
                                          _mm256_store_ps(packed + q * k * 16 + p * 16 + 8, _mm256_loadu_ps(row + 16 * q + 8));
    }
    for (int64_t q = 0; q < panels; ++q)
      cpu::detail::small_gemm_panel<2, false>(m, k, A, lda, packed + q * k * 16, 16, C + j0 + 16 * q, ldc, 1.f, 0.f);
  }
}
int main(int argc, char** argv) {
  omp_set_num_threads(1);
  const int reps = argc > 1 ? atoi(argv[1]) : 9;
  for (int cold = 0; cold < 2; ++cold)
  for (auto [m, n, k] : std::vector<std::array<int64_t,3>>{{64,256,256},{64,128,256},{64,768,256},{64,1024,256},{64,256,1024},{64,512,256}}) {
    const int64_t ldb = n;
    const int copies = cold ? std::max<int64_t>(1, (48 << 20) / (k * n * 4)) : 1;
    std::vector<std::vector<float>> Bs(copies, std::vector<float>(k * ldb));
    for (auto& g : Bs) for (size_t i = 0; i < g.size(); ++i) g[i] = float(i % 5) * 0.1f;
    std::vector<float> x(m * k), C(m * n, 0.f), R(m * n);
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) * 0.1f;
    int next = 0;
    constexpr int V = 6;
    auto call = [&](int v, float* c) {
      const float* b = Bs[next].data(); next = (next + 1) % copies;
      if (v == 0) dnnl_sgemm('N', 'N', m, n, k, 1.f, x.data(), k, b, ldb, 0.f, c, n);
      else if (v == 1) copyb(m, n, k, x.data(), k, b, ldb, c, n);
      else if (v == 2) copyb_pf<_MM_HINT_T0>(m, n, k, x.data(), k, b, ldb, c, n);
      else if (v == 3) copyb_pf<_MM_HINT_T1>(m, n, k, x.data(), k, b, ldb, c, n);
      else if (v == 4) packblock<128>(m, n, k, x.data(), k, b, ldb, c, n);
      else packblock<256>(m, n, k, x.data(), k, b, ldb, c, n);
    };
    next = 0; call(0, R.data());
    for (int v = 1; v < V; ++v) { next = 0; call(v, C.data()); double e = 0; for (int64_t i = 0; i < m * n; ++i) e = std::max<double>(e, std::abs(C[i] - R[i])); if (e > 1e-2) printf("MISMATCH v%d %g\n", v, e); }
    std::vector<double> ts[V];
    const int it = std::max<int>(20, 1e8 / (2.0 * m * n * k));
    for (int rep = 0; rep < reps; ++rep)
      for (int v = 0; v < V; ++v) {
        auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < it; ++r) call(v, C.data());
        ts[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / it);
      }
    const char* names[] = {"onednn", "copyB", "copyB_pfT0", "copyB_pfT1", "pack128", "pack256"};
    for (int v = 0; v < V; ++v) {
      std::sort(ts[v].begin(), ts[v].end());
      printf("%s m%4ld n%4ld k%4ld %-12s %6.1f GFLOP/s [%5.1f-%5.1f]\n", cold ? "cold" : "hot ", m, n, k, names[v],
             2.0 * m * n * k / ts[v][reps / 2] * 1e-9, 2.0 * m * n * k / ts[v][reps - 1] * 1e-9, 2.0 * m * n * k / ts[v][0] * 1e-9);
    }
  }
}
