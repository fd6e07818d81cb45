// RngKey::normals (vectorised) against RngKey::normal (scalar), bit for bit, and both against the
// Box-Muller of libm's log and cos (the stream before 2026-12-04 evening), over 2^22 + 5 draws; and
// ns per draw of each (the "libm" column draws its uniforms through uniform_double, one Philox block
// per uniform, so it is not the old normal()'s cost). Built with each compiler and flag set:
//   g++ | clang++-14  -std=c++20 -O3 [-march=native | -march=x86-64-v3] -DNDEBUG -I<tree>/include \
//       lanes_vs_scalar.cpp -o lanes && ./lanes
#include "mnemo/core/rng.hpp"
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>
using namespace mnemo;
double old_normal(const RngKey& k, uint64_t i) {
  const double u1 = 1.0 - k.uniform_double(2 * i), u2 = k.uniform_double(2 * i + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
}
__attribute__((noinline)) void fill_old(const RngKey& k, int64_t n, double* out) { for (int64_t i = 0; i < n; ++i) out[i] = old_normal(k, i); }
__attribute__((noinline)) void fill_scalar(const RngKey& k, int64_t n, double* out) { for (int64_t i = 0; i < n; ++i) out[i] = k.normal(i); }
__attribute__((noinline)) void fill_lanes(const RngKey& k, uint64_t first, int64_t n, double* out) { k.normals(first, n, out); }
int main() {
  const int64_t n = (1 << 22) + 5;
  std::vector<double> a(n), b(n), c(n);
  RngKey k = RngKey{1, 0}.derive("w");
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    fill_old(k, n, a.data());
    auto t1 = std::chrono::steady_clock::now();
    fill_scalar(k, n, b.data());
    auto t2 = std::chrono::steady_clock::now();
    fill_lanes(k, 0, n, c.data());
    auto t3 = std::chrono::steady_clock::now();
    auto ns = [&](auto x, auto y) { return std::chrono::duration<double, std::nano>(y - x).count() / n; };
    std::printf("libm %.2f  scalar %.2f  lanes %.2f ns/value\n", ns(t0, t1), ns(t1, t2), ns(t2, t3));
  }
  int64_t dbits = 0, dfloat = 0, dlanes = 0; double maxrel = 0;
  for (int64_t i = 0; i < n; ++i) {
    dbits += a[i] != b[i]; dfloat += (float)(0.02 * a[i]) != (float)(0.02 * b[i]);
    dlanes += std::memcmp(&b[i], &c[i], 8) != 0;
    if (a[i] != 0) maxrel = std::max(maxrel, std::fabs(a[i] - b[i]) / std::fabs(a[i]));
  }
  std::printf("vs libm: doubles differ %ld, floats(0.02x) differ %ld, max rel %.3g; scalar vs lanes differ %ld of %ld\n", dbits, dfloat, maxrel, dlanes, n);
}
