// mnemo/backend/cpu/softmax.hpp — masked softmax with a logit scale (1 / (temperature·√d_h)).
//   forward:  y = softmax(scale · x + bias, masked entries −∞)       per row of `cols`
//   backward: dx = scale · y ⊙ (dy − <y, dy>)                           (spec §3, temperature)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/backend/softmax_row.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class T>
void softmax_forward(const T* x, T* y, const SoftmaxDims& dims, compute_t<T> scale,
                     const SoftmaxMask& mask) {
  using C = compute_t<T>;
  const int64_t cols = dims.cols;
  parallel_for(dims.total_rows(), 4 * cols, [&](int64_t begin, int64_t end) {
    std::vector<C> z(static_cast<size_t>(cols));
    for (int64_t row = begin; row < end; ++row) {
      const T* xr = x + row * cols;
      T* yr = y + row * cols;
      const SoftmaxRow<C> mrow(dims, mask, row);  // mask semantics shared with the CUDA backend
      C mx = -std::numeric_limits<C>::infinity();
      for (int64_t c = 0; c < cols; ++c) {
        if (mrow.masked(c)) {
          z[static_cast<size_t>(c)] = -std::numeric_limits<C>::infinity();
          continue;
        }
        const C v = mrow.logit(scale * static_cast<C>(xr[c]), c);
        z[static_cast<size_t>(c)] = v;
        mx = std::max(mx, v);
      }
      if (mx == -std::numeric_limits<C>::infinity()) {  // every key masked
        std::fill(yr, yr + cols, T(0));
        continue;
      }
      C sum = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const C e = std::exp(z[static_cast<size_t>(c)] - mx);  // exp(−∞) = 0
        z[static_cast<size_t>(c)] = e;
        sum += e;
      }
      const C inv = C(1) / sum;
      for (int64_t c = 0; c < cols; ++c) yr[c] = static_cast<T>(z[static_cast<size_t>(c)] * inv);
    }
  });
}

template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols,
                      compute_t<T> scale) {
  using C = compute_t<T>;
  parallel_for(rows, 3 * cols, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const T* yr = y + row * cols;
      const T* dyr = dy + row * cols;
      T* dxr = dx + row * cols;
      C dot = 0;
      for (int64_t c = 0; c < cols; ++c) dot += static_cast<C>(yr[c]) * static_cast<C>(dyr[c]);
      for (int64_t c = 0; c < cols; ++c)
        dxr[c] = static_cast<T>(scale * static_cast<C>(yr[c]) * (static_cast<C>(dyr[c]) - dot));
    }
  });
}

}  // namespace mnemo::cpu
