// prototype: C[m x 64] = A[m x k] * B[k x 64] (B rows ldb apart), AVX-512, 6x64 register block
#include <immintrin.h>
#include <dnnl.h>
#include <omp.h>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
#include <algorithm>
#include <random>
static double now(){return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();}
#include "rv_kernel.hpp"
int main() {
  const int64_t m = 128, k = 512, e = 512; omp_set_num_threads(1);
  const int H = 8;
  std::mt19937 g(1); std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> A(m * k), V(k * e), C(m * e), C2(m * e), Bp(k * 64);
  for (auto& x : A) x = u(g); for (auto& x : V) x = u(g);
  for (int round = 0; round < 3; ++round) {
    for (int mode = 0; mode < 3; ++mode) {
      std::vector<double> t;
      for (int rep = 0; rep < 7; ++rep) {
        double t0 = now();
        for (int it = 0; it < 50; ++it) for (int h = 0; h < H; ++h) {
          if (mode == 0) dnnl_sgemm('N', 'N', m, 64, k, 1, A.data(), k, V.data() + h * 64, e, 0, C.data() + h * 64, e);
          else {
            if (mode == 1 || it % 4 == 0) for (int64_t p = 0; p < k; ++p) std::memcpy(Bp.data() + p * 64, V.data() + p * e + h * 64, 256);
            kern(m, k, A.data(), k, Bp.data(), C2.data() + h * 64, e);
          }
        }
        t.push_back((now() - t0) / (50 * H));
      }
      std::sort(t.begin(), t.end());
      const char* nm[] = {"onednn strided", "kernel, pack every call", "kernel, pack per 4 calls"};
      std::printf("%-26s %7.1f us  %6.1f GF/s\n", nm[mode], t[3] * 1e6, 2.0 * m * 64 * k / t[3] * 1e-9);
    }
  }
  double err = 0; for (size_t i = 0; i < C.size(); ++i) err = std::max(err, (double)std::abs(C[i] - C2[i]));
  std::printf("max diff %g\n", err);
}
