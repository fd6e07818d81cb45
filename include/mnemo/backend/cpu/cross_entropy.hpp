// mnemo/backend/cpu/cross_entropy.hpp — softmax cross-entropy over rows of logits.
//   forward:  lse_r = log Σ_c exp(x_rc),  loss_r = w_r·(lse_r − x_{r,t_r})   (0 when t_r == ignore)
//   backward: dx_rc = scale·w_r·(exp(x_rc − lse_r) − [c == t_r])             (0 rows when ignored)
// Targets must lie in [0, vocab) or equal ignore_index (checked by the caller).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

template <class T>
void cross_entropy_forward(const T* logits, const int32_t* targets, const float* weights,
                           accumulate_t<T>* loss_rows, accumulate_t<T>* lse, int64_t rows,
                           int64_t vocab, int32_t ignore_index) {
  using A = accumulate_t<T>;
  parallel_for(rows, 3 * vocab, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* x = logits + r * vocab;
      A mx = -std::numeric_limits<A>::infinity();
      for (int64_t c = 0; c < vocab; ++c) mx = std::max(mx, static_cast<A>(x[c]));
      A s = 0;
      for (int64_t c = 0; c < vocab; ++c) s += std::exp(static_cast<A>(x[c]) - mx);
      const A l = mx + std::log(s);
      lse[r] = l;
      const int32_t t = targets[r];
      const A w = weights ? static_cast<A>(weights[r]) : A(1);
      loss_rows[r] = (t == ignore_index) ? A(0) : w * (l - static_cast<A>(x[t]));
    }
  });
}

template <class T>
void cross_entropy_backward(const T* logits, const int32_t* targets, const float* weights,
                            const accumulate_t<T>* lse, accumulate_t<T> scale, T* dlogits,
                            int64_t rows, int64_t vocab, int32_t ignore_index) {
  using A = accumulate_t<T>;
  parallel_for(rows, 2 * vocab, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* x = logits + r * vocab;
      T* dx = dlogits + r * vocab;
      const int32_t t = targets[r];
      if (t == ignore_index) {
        std::fill(dx, dx + vocab, T(0));
        continue;
      }
      const A f = scale * (weights ? static_cast<A>(weights[r]) : A(1));
      for (int64_t c = 0; c < vocab; ++c) dx[c] = static_cast<T>(f * std::exp(static_cast<A>(x[c]) - lse[r]));
      dx[t] = static_cast<T>(static_cast<A>(dx[t]) - f);
    }
  });
}

}  // namespace mnemo::cpu
