// mnemo/backend/cpu/reduce.hpp — reductions. Sums run over fixed blocks and then the blocks in
// order, so a result never depends on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mnemo/backend/cpu/layer_norm.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

inline constexpr int64_t kReduceBlock = 4096;

/// Σ_i f(i) in double, blockwise-deterministic.
template <class F>
double blocked_sum(int64_t n, F&& f) {
  const int64_t blocks = (n + kReduceBlock - 1) / kReduceBlock;
  std::vector<double> part(static_cast<size_t>(blocks), 0.0);
  parallel_for(blocks, kReduceBlock * 2, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      double s = 0;
      const int64_t e = std::min(n, (blk + 1) * kReduceBlock);
      for (int64_t i = blk * kReduceBlock; i < e; ++i) s += f(i);
      part[static_cast<size_t>(blk)] = s;
    }
  });
  double s = 0;
  for (double p : part) s += p;
  return s;
}

template <class T>
double sum(const T* x, int64_t n) {
  return blocked_sum(n, [&](int64_t i) { return static_cast<double>(x[i]); });
}
template <class T>
double dot(const T* x, const T* y, int64_t n) {
  return blocked_sum(n, [&](int64_t i) { return static_cast<double>(x[i]) * static_cast<double>(y[i]); });
}
template <class T>
double sum_squares(const T* x, int64_t n) {
  return blocked_sum(n, [&](int64_t i) { const double v = static_cast<double>(x[i]); return v * v; });
}
template <class T>
double max_abs(const T* x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::abs(static_cast<double>(x[i])));
  return m;
}
/// Number of NaN or ±Inf entries.
template <class T>
int64_t count_nonfinite(const T* x, int64_t n) {
  int64_t k = 0;
  for (int64_t i = 0; i < n; ++i) k += std::isfinite(static_cast<double>(x[i])) ? 0 : 1;
  return k;
}

/// out[c] = Σ_r x[r, c]  (accumulate: out[c] += ...).
template <class T>
void sum_rows(const T* x, T* out, int64_t rows, int64_t cols, bool accumulate) {
  using A = accumulate_t<T>;
  const int64_t blocks = (rows + kReduceBlockRows - 1) / kReduceBlockRows;
  std::vector<A> part(static_cast<size_t>(blocks * cols), A(0));
  parallel_for(blocks, kReduceBlockRows * cols, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      A* p = part.data() + blk * cols;
      const int64_t e = std::min(rows, (blk + 1) * kReduceBlockRows);
      for (int64_t r = blk * kReduceBlockRows; r < e; ++r)
        for (int64_t c = 0; c < cols; ++c) p[c] += static_cast<A>(x[r * cols + c]);
    }
  });
  for (int64_t c = 0; c < cols; ++c) {
    A s = accumulate ? static_cast<A>(out[c]) : A(0);
    for (int64_t blk = 0; blk < blocks; ++blk) s += part[static_cast<size_t>(blk * cols + c)];
    out[c] = static_cast<T>(s);
  }
}

}  // namespace mnemo::cpu
