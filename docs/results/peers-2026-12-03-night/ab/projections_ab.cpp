// Build (from the repository root): g++ -std=c++20 -O3 -march=native -DNDEBUG -DMNEMO_CPU_GEMM_ONEDNN -Iinclude \
//   -I/usr/include/eigen3 docs/results/peers-2026-12-03-night/ab/projections_ab.cpp -ldnnl -lgomp -lpthread
// A/B in one process: old = project_qkv (one region, each product in column blocks, bias per block) + 3 permutes;
// new = stacked GEMM of 3d columns + split_heads_add_bias.
#include "mnemo/backend/cpu.hpp"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
using namespace mnemo;
int main() {
  const int64_t Bt = 16, L = 512, d = 512, h = 8, dh = 64, M = Bt * L;
  std::mt19937 g(1); std::normal_distribution<float> n(0, 1);
  auto vec = [&](int64_t s) { std::vector<float> v(s); for (auto& x : v) x = n(g); return v; };
  auto x = vec(M*d), w0 = vec(d*d), w1 = vec(d*d), w2 = vec(d*d), b0 = vec(d), b1 = vec(d), b2 = vec(d);
  std::vector<float> y(M*3*d), ws(3*d*d), qh(M*d), kh(M*d), vh(M*d), o0(M*d), o1(M*d), o2(M*d);
  using G = BackendTraits<Cpu>;
  auto& ctx = G::default_context();
  const float* W[3] = {w0.data(), w1.data(), w2.data()}; const float* Bs[3] = {b0.data(), b1.data(), b2.data()};
  float* O[3] = {o0.data(), o1.data(), o2.data()}; float* H[3] = {qh.data(), kh.data(), vh.data()};
  auto old = [&] {
    const int64_t parts = std::min<int64_t>(cpu::parallel_threads(), d / 16);
    cpu::parallel_for(3 * parts, 2 * M * d * d / parts, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int i = item / parts; const int64_t part = item % parts;
        const int64_t lo = part == 0 ? 0 : (d * part / parts) / 8 * 8, hi = part + 1 == parts ? d : (d * (part + 1) / parts) / 8 * 8;
        G::gemm(ctx, Trans::N, Trans::N, M, hi - lo, d, 1.f, x.data(), d, 0, W[i] + lo, d, 0, 0.f, O[i] + lo, d, 0, 1);
        for (int64_t r = 0; r < M; ++r) G::add_row_broadcast(ctx, O[i] + r * d + lo, Bs[i] + lo, O[i] + r * d + lo, 1, hi - lo);
      }
    });
    for (int i = 0; i < 3; ++i) G::permute_0213(ctx, O[i], H[i], Bt, L, h, dh);
  };
  auto neu = [&] {
    for (int i = 0; i < 3; ++i) G::copy_2d(ctx, ws.data() + i * d, 3 * d * 4, W[i], d * 4, d * 4, d);
    G::gemm(ctx, Trans::N, Trans::N, M, 3 * d, d, 1.f, x.data(), d, 0, ws.data(), 3 * d, 0, 0.f, y.data(), 3 * d, 0, 1);
    cpu::split_heads_add_bias(y.data(), 3 * d, Bt, L, h, dh, 3, H, Bs);
  };
  auto T = [](auto f) { auto t0 = std::chrono::steady_clock::now(); for (int i = 0; i < 5; ++i) f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5 * 1e3; };
  old(); neu();
  for (int r = 0; r < 8; ++r) { double a = T(old), b = T(neu); std::printf("old %.2f new %.2f ms  new/old %.3f\n", a, b, b / a); }
  // correctness: compare heads
  old(); std::vector<float> ref = qh; ref.insert(ref.end(), kh.begin(), kh.end()); ref.insert(ref.end(), vh.begin(), vh.end());
  neu(); double md = 0; for (int64_t i = 0; i < M*d; ++i) md = std::max({md, (double)std::abs(ref[i]-qh[i]), (double)std::abs(ref[M*d+i]-kh[i]), (double)std::abs(ref[2*M*d+i]-vh[i])});
  std::printf("max diff %.3g\n", md);
}
