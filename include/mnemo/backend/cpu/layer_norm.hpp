// mnemo/backend/cpu/layer_norm.hpp — layer normalisation over the last dimension.
//   forward:  μ = mean(x), rstd = 1/sqrt(var(x) + eps), y = (x − μ)·rstd·γ + β
//   backward: x̂ = (x − μ)·rstd, g = dy·γ,
//             dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),  dγ += Σ_rows dy·x̂,  dβ += Σ_rows dy
// γ/β gradients are reduced over fixed blocks of rows, then the blocks in order: the result does
// not depend on the thread count. The float forward runs blocks of kLayerNormRows rows whose sums
// interleave (cpu/layer_norm_rows.hpp): each row's sums keep the column order of the loop below.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "mnemo/backend/cpu/elementwise_bf16.hpp"
#include "mnemo/backend/cpu/layer_norm_rows.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

inline constexpr int64_t kReduceBlockRows = 64;

template <class T>
void layer_norm_forward(const T* x, const T* gamma, const T* beta, T* y, accumulate_t<T>* mean,
                        accumulate_t<T>* rstd, int64_t rows, int64_t cols, accumulate_t<T> eps) {
  if constexpr (std::is_same_v<T, bfloat16>) {  // through fp32 rows, cpu/elementwise_bf16.hpp
    bf16_rows::layer_norm_forward(x, gamma, beta, y, mean, rstd, rows, cols, eps);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {  // blocks of rows, sums interleaved: cpu/layer_norm_rows.hpp
    constexpr int64_t kRows = kLayerNormRows;
    parallel_for((rows + kRows - 1) / kRows, 6 * kRows * cols, [&](int64_t begin, int64_t end) {
      for (int64_t blk = begin; blk < end; ++blk) {
        const int64_t r0 = blk * kRows, n = std::min(kRows, rows - r0);
        detail::layer_norm_rows_f32(x + r0 * cols, gamma, beta, y + r0 * cols, mean ? mean + r0 : nullptr,
                                    rstd ? rstd + r0 : nullptr, n, cols, eps);
      }
    });
    return;
  }
  using A = accumulate_t<T>;
  parallel_for(rows, 6 * cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      A s = 0;
      for (int64_t c = 0; c < cols; ++c) s += static_cast<A>(xr[c]);
      const A mu = s / static_cast<A>(cols);
      A v = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const A d = static_cast<A>(xr[c]) - mu;
        v += d * d;
      }
      const A rs = A(1) / std::sqrt(v / static_cast<A>(cols) + eps);
      if (mean) mean[r] = mu;
      if (rstd) rstd[r] = rs;
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = static_cast<T>((static_cast<A>(xr[c]) - mu) * rs * static_cast<A>(gamma[c]) +
                               static_cast<A>(beta[c]));
    }
  });
}

template <class T>
void layer_norm_backward(const T* dy, const T* x, const T* gamma, const accumulate_t<T>* mean,
                         const accumulate_t<T>* rstd, T* dx, T* dgamma, T* dbeta, int64_t rows,
                         int64_t cols) {
  using A = accumulate_t<T>;
  const int64_t blocks = (rows + kReduceBlockRows - 1) / kReduceBlockRows;
  std::vector<A> part_g(static_cast<size_t>(blocks * cols), A(0));
  std::vector<A> part_b(static_cast<size_t>(blocks * cols), A(0));
  parallel_for(blocks, kReduceBlockRows * 8 * cols, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      A* pg = part_g.data() + blk * cols;
      A* pb = part_b.data() + blk * cols;
      const int64_t r_end = std::min(rows, (blk + 1) * kReduceBlockRows);
      for (int64_t r = blk * kReduceBlockRows; r < r_end; ++r) {
        const T* xr = x + r * cols;
        const T* dyr = dy + r * cols;
        const A mu = mean[r], rs = rstd[r];
        A sum_g = 0, sum_gx = 0;
        for (int64_t c = 0; c < cols; ++c) {
          const A xh = (static_cast<A>(xr[c]) - mu) * rs;
          const A d = static_cast<A>(dyr[c]);
          const A g = d * static_cast<A>(gamma[c]);
          sum_g += g;
          sum_gx += g * xh;
          pg[c] += d * xh;
          pb[c] += d;
        }
        const A mg = sum_g / static_cast<A>(cols), mgx = sum_gx / static_cast<A>(cols);
        if (dx) {
          T* dxr = dx + r * cols;
          for (int64_t c = 0; c < cols; ++c) {
            const A xh = (static_cast<A>(xr[c]) - mu) * rs;
            const A g = static_cast<A>(dyr[c]) * static_cast<A>(gamma[c]);
            dxr[c] = static_cast<T>(rs * (g - mg - xh * mgx));
          }
        }
      }
    }
  });
  for (int64_t c = 0; c < cols; ++c) {
    A sg = 0, sb = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) {
      sg += part_g[static_cast<size_t>(blk * cols + c)];
      sb += part_b[static_cast<size_t>(blk * cols + c)];
    }
    if (dgamma) dgamma[c] = static_cast<T>(static_cast<A>(dgamma[c]) + sg);
    if (dbeta) dbeta[c] = static_cast<T>(static_cast<A>(dbeta[c]) + sb);
  }
}

}  // namespace mnemo::cpu
