// mnemo/backend/cpu/normalize.hpp — L2 normalisation of rows (Memformer's BMN, spec §2.5, §3).
//   forward:  n = ||x||₂,  y = x / max(n, eps)
//   backward: dx = (dy − y·<y, dy>) / n   if n ≥ eps,   dx = dy / eps otherwise
#pragma once

#include <cmath>
#include <cstdint>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class T>
void l2_normalize_forward(const T* x, T* y, accumulate_t<T>* norms, int64_t rows, int64_t cols,
                          accumulate_t<T> eps) {
  using A = accumulate_t<T>;
  parallel_for(rows, 3 * cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* xr = x + r * cols;
      A ss = 0;
      for (int64_t c = 0; c < cols; ++c) ss += static_cast<A>(xr[c]) * static_cast<A>(xr[c]);
      const A n = std::sqrt(ss);
      if (norms) norms[r] = n;
      const A inv = A(1) / (n > eps ? n : eps);
      for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = static_cast<T>(static_cast<A>(xr[c]) * inv);
    }
  });
}

template <class T>
void l2_normalize_backward(const T* y, const accumulate_t<T>* norms, const T* dy, T* dx,
                           int64_t rows, int64_t cols, accumulate_t<T> eps) {
  using A = accumulate_t<T>;
  parallel_for(rows, 4 * cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* yr = y + r * cols;
      const T* dyr = dy + r * cols;
      const A n = norms[r];
      if (n < eps) {
        for (int64_t c = 0; c < cols; ++c) dx[r * cols + c] = static_cast<T>(static_cast<A>(dyr[c]) / eps);
        continue;
      }
      A dot = 0;
      for (int64_t c = 0; c < cols; ++c) dot += static_cast<A>(yr[c]) * static_cast<A>(dyr[c]);
      for (int64_t c = 0; c < cols; ++c)
        dx[r * cols + c] = static_cast<T>((static_cast<A>(dyr[c]) - static_cast<A>(yr[c]) * dot) / n);
    }
  });
}

}  // namespace mnemo::cpu
