// mnemo/backend/cpu/elementwise.hpp — elementwise and layout primitives.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "mnemo/backend/cpu/elementwise_bf16.hpp"
#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/rng.hpp"

namespace mnemo::cpu {

/// y = alpha·x + beta·y  (beta == 0 never reads y).
template <class T>
void axpby(int64_t n, compute_t<T> alpha, const T* x, compute_t<T> beta, T* y) {
  using C = compute_t<T>;
  parallel_for(n, 2, [&](int64_t b, int64_t e) {
    if (beta == C(0))
      for (int64_t i = b; i < e; ++i) y[i] = static_cast<T>(alpha * static_cast<C>(x[i]));
    else
      for (int64_t i = b; i < e; ++i)
        y[i] = static_cast<T>(alpha * static_cast<C>(x[i]) + beta * static_cast<C>(y[i]));
  });
}

/// out = a + b  (bfloat16: through fp32 rows, cpu/elementwise_bf16.hpp)
template <class T>
void add(int64_t n, const T* a, const T* b, T* out) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    bf16_rows::add(n, a, b, out);
    return;
  }
  parallel_for(n, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] + b[i];
  });
}

/// out = a ⊙ b
template <class T>
void mul(int64_t n, const T* a, const T* b, T* out) {
  parallel_for(n, 1, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] * b[i];
  });
}

/// y[r, c] = x[r, c] + row[c] for r < rows, c < cols, rows ld apart in x and y (ld ≥ cols; the
/// entries between rows are not touched); y may alias x; bfloat16: through fp32 rows.
template <class T>
void add_row_broadcast(const T* x, const T* row, T* y, int64_t rows, int64_t cols, int64_t ld) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    bf16_rows::add_row_broadcast(x, row, y, rows, cols, ld);
    return;
  }
  parallel_for(rows, cols, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c = 0; c < cols; ++c) y[r * ld + c] = x[r * ld + c] + row[c];
  });
}

/// Inverted dropout: y_i = x_i / (1 − p) if key.keep(offset + i, p) else 0. backward: the same
/// mask applied to dy (regenerated from the key, never stored).
template <class T>
void dropout(int64_t n, const T* x, T* y, float p, RngKey key, uint64_t offset) {
  using C = compute_t<T>;
  const C s = C(1) / (C(1) - static_cast<C>(p));
  parallel_for(n, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      y[i] = key.keep(offset + static_cast<uint64_t>(i), p) ? static_cast<T>(static_cast<C>(x[i]) * s) : T(0);
  });
}

/// [d0, d1, d2, d3] → [d0, d2, d1, d3]  (split / merge attention heads).
template <class T>
void permute_0213(const T* x, T* y, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  parallel_for(d0 * d1, d2 * d3, [&](int64_t b, int64_t e) {
    for (int64_t ij = b; ij < e; ++ij) {
      const int64_t i = ij / d1, j = ij % d1;
      for (int64_t k = 0; k < d2; ++k)
        std::memcpy(y + ((i * d2 + k) * d1 + j) * d3, x + ((i * d1 + j) * d2 + k) * d3,
                    sizeof(T) * static_cast<size_t>(d3));
    }
  });
}

/// Splits `parts` projections stored side by side in x [batch·len, ld] (part i in columns
/// [i·heads·dh, (i+1)·heads·dh)) into head layout [batch, heads, len, dh], adding each part's bias
/// on the way (none where bias[i] is null): one pass instead of a bias pass and a permute per part.
///   y[i][b, h, l, :] = x[b·len + l, i·heads·dh + h·dh + (0..dh)] + bias[i][h·dh + (0..dh)]
template <class T>
void split_heads_add_bias(const T* x, int64_t ld, int64_t batch, int64_t len, int64_t heads, int64_t dh, int parts,
                          T* const* y, const T* const* bias) {
  using C = compute_t<T>;
  parallel_for(batch * len, parts * heads * dh, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / len, l = row % len;
      for (int i = 0; i < parts; ++i)
        for (int64_t h = 0; h < heads; ++h) {
          const T* src = x + row * ld + (i * heads + h) * dh;
          T* dst = y[i] + ((b * heads + h) * len + l) * dh;
          if (!bias[i]) {
            std::memcpy(dst, src, sizeof(T) * static_cast<size_t>(dh));
            continue;
          }
          const T* add = bias[i] + h * dh;
          for (int64_t j = 0; j < dh; ++j) dst[j] = static_cast<T>(static_cast<C>(src[j]) + static_cast<C>(add[j]));
        }
    }
  });
}

/// out[r, :] = select[r] ? a[r, :] : b[r, :]   (a may be broadcast: a_stride = 0)
template <class T>
void select_rows(const uint8_t* select, const T* a, int64_t a_stride, const T* b, T* out,
                 int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* src = select[r] ? a + r * a_stride : b + r * cols;
    if (src != out + r * cols) std::memmove(out + r * cols, src, sizeof(T) * static_cast<size_t>(cols));
  }
}

/// y = static_cast<U>(x)
template <class S, class U>
void cast(int64_t n, const S* x, U* y) {
  parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = static_cast<U>(x[i]);
  });
}

template <class T>
void fill(T* p, int64_t n, T value) {
  if (value == T{} ) {
    std::memset(static_cast<void*>(p), 0, sizeof(T) * static_cast<size_t>(n));
    return;
  }
  std::fill(p, p + n, value);
}

}  // namespace mnemo::cpu
