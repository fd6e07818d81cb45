// Build (from the repository root): g++ -std=c++20 -O3 -march=native -DNDEBUG -DMNEMO_CPU_GEMM_ONEDNN -Iinclude \
//   -I/usr/include/eigen3 docs/results/peers-2026-12-03-night/ab/input_grad_ab.cpp -ldnnl -lgomp -lpthread
#include "mnemo/backend/cpu.hpp"
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
using namespace mnemo;
int main() {
  const int64_t M = 8192, d = 512;
  std::mt19937 g(1); std::normal_distribution<float> n(0, 1);
  auto vec = [&](int64_t s) { std::vector<float> v(s); for (auto& x : v) x = n(g); return v; };
  auto dy = vec(M*3*d), ws = vec(3*d*d), w0 = vec(d*d), w1 = vec(d*d), w2 = vec(d*d), dq = vec(M*d), dk = vec(M*d), dv = vec(M*d);
  std::vector<float> a(M*d), b(M*d), c(M*d);
  using G = BackendTraits<Cpu>;
  auto& ctx = G::default_context();
  auto old = [&] {
    G::gemm(ctx, Trans::N, Trans::T, M, d, d, 1.f, dq.data(), d, 0, w0.data(), d, 0, 0.f, a.data(), d, 0, 1);
    G::gemm(ctx, Trans::N, Trans::T, M, d, d, 1.f, dk.data(), d, 0, w1.data(), d, 0, 0.f, b.data(), d, 0, 1);
    G::gemm(ctx, Trans::N, Trans::T, M, d, d, 1.f, dv.data(), d, 0, w2.data(), d, 0, 1.f, b.data(), d, 0, 1);
    G::axpby(ctx, M * d, 1.f, b.data(), 1.f, a.data());
  };
  auto neu = [&] {
    G::gemm(ctx, Trans::N, Trans::T, M, d, 3 * d, 1.f, dy.data(), 3 * d, 0, ws.data(), 3 * d, 0, 0.f, c.data(), d, 0, 1);
  };
  auto T = [](auto f) { auto t0 = std::chrono::steady_clock::now(); for (int i = 0; i < 5; ++i) f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 5 * 1e3; };
  old(); neu();
  for (int r = 0; r < 8; ++r) { double x = T(old), y = T(neu); std::printf("old %.2f new %.2f ms  new/old %.3f\n", x, y, y / x); }
}
