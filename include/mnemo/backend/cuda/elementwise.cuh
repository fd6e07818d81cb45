// mnemo/backend/cuda/elementwise.cuh — elementwise and layout primitives (one thread per output
// element over a grid-stride loop), computed in compute_t<T> and rounded once to T.
#pragma once

#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/backend/cuda/half.cuh"
#include "mnemo/backend/cuda/launch.cuh"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/rng.hpp"

namespace mnemo::cuda {

namespace detail_elementwise {
template <class T>
struct Axpby {
  compute_t<T> alpha;
  const T* x;
  compute_t<T> beta;
  T* y;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    const C ax = alpha * convert<C>(x[i]);
    y[i] = convert<T>(beta == C(0) ? ax : ax + beta * convert<C>(y[i]));  // beta == 0 never reads y
  }
};
struct Sum {
  template <class C>
  __device__ C operator()(C a, C b) const { return a + b; }
};
struct Product {
  template <class C>
  __device__ C operator()(C a, C b) const { return a * b; }
};
/// out = op(a, b) elementwise.
template <class T, class Op>
struct Binary {
  const T* a;
  const T* b;
  T* out;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    out[i] = convert<T>(Op{}(convert<C>(a[i]), convert<C>(b[i])));
  }
};
template <class T>
struct AddRow {
  const T* x;
  const T* row;
  T* y;
  int64_t cols;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    y[i] = convert<T>(convert<C>(x[i]) + convert<C>(row[i % cols]));
  }
};
template <class T>
struct Dropout {
  const T* x;
  T* y;
  float p;
  compute_t<T> keep_scale;
  RngKey key;
  uint64_t offset;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    y[i] = key.keep(offset + static_cast<uint64_t>(i), p) ? convert<T>(convert<C>(x[i]) * keep_scale) : T{};
  }
};
/// Output element o of [d0, d2, d1, d3] reads element (i, j, k, l) of [d0, d1, d2, d3].
template <class T>
struct Permute0213 {
  const T* x;
  T* y;
  int64_t d1, d2, d3;
  __device__ void operator()(int64_t o) const {
    const int64_t l = o % d3;
    int64_t t = o / d3;
    const int64_t j = t % d1;
    t /= d1;
    const int64_t k = t % d2;
    const int64_t i = t / d2;
    y[o] = x[((i * d1 + j) * d2 + k) * d3 + l];
  }
};
/// The select mask of up to kRows rows, passed by value in the kernel's parameters (so that
/// select_rows needs no host-to-device copy and can be captured in a CUDA graph).
struct RowBits {
  static constexpr int64_t kRows = 2048;
  uint32_t words[kRows / 32];
};
template <class T>
struct SelectRows {
  RowBits bits;
  const T* a;
  int64_t a_stride;
  const T* b;
  T* out;
  int64_t first_row, cols;
  __device__ void operator()(int64_t o) const {
    const int64_t local = o / cols, c = o % cols, r = first_row + local;
    const bool take_a = (bits.words[local >> 5] >> (local & 31)) & 1u;
    out[r * cols + c] = take_a ? a[r * a_stride + c] : b[r * cols + c];
  }
};
}  // namespace detail_elementwise

/// y = alpha·x + beta·y  (beta == 0 never reads y).
template <class T>
void axpby(CudaContext& ctx, int64_t n, compute_t<T> alpha, const T* x, compute_t<T> beta, T* y) {
  for_each(ctx, n, detail_elementwise::Axpby<T>{alpha, x, beta, y}, "axpby");
}
template <class T>
void add(CudaContext& ctx, int64_t n, const T* a, const T* b, T* out) {
  for_each(ctx, n, detail_elementwise::Binary<T, detail_elementwise::Sum>{a, b, out}, "add");
}
template <class T>
void mul(CudaContext& ctx, int64_t n, const T* a, const T* b, T* out) {
  for_each(ctx, n, detail_elementwise::Binary<T, detail_elementwise::Product>{a, b, out}, "mul");
}
/// y[r, c] = x[r, c] + row[c]  (y may alias x).
template <class T>
void add_row_broadcast(CudaContext& ctx, const T* x, const T* row, T* y, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  for_each(ctx, rows * cols, detail_elementwise::AddRow<T>{x, row, y, cols}, "add_row_broadcast");
}
/// Inverted dropout with the CPU's mask: element i is kept iff key.keep(offset + i, p).
template <class T>
void dropout(CudaContext& ctx, int64_t n, const T* x, T* y, float p, RngKey key, uint64_t offset) {
  using C = compute_t<T>;
  const C keep_scale = C(1) / (C(1) - static_cast<C>(p));
  for_each(ctx, n, detail_elementwise::Dropout<T>{x, y, p, keep_scale, key, offset}, "dropout");
}
/// [d0, d1, d2, d3] → [d0, d2, d1, d3].
template <class T>
void permute_0213(CudaContext& ctx, const T* x, T* y, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  if (d1 <= 0 || d2 <= 0 || d3 <= 0) return;
  for_each(ctx, d0 * d1 * d2 * d3, detail_elementwise::Permute0213<T>{x, y, d1, d2, d3}, "permute_0213");
}
/// out[r, :] = select[r] ? a[r, :] : b[r, :]; a_stride = 0 broadcasts one row of a. `select` is
/// in host memory (read before this returns); out may alias a (a_stride = cols) or b.
template <class T>
void select_rows(CudaContext& ctx, const uint8_t* select, const T* a, int64_t a_stride, const T* b, T* out,
                 int64_t rows, int64_t cols) {
  using detail_elementwise::RowBits;
  if (cols <= 0) return;
  for (int64_t first = 0; first < rows; first += RowBits::kRows) {
    const int64_t count = rows - first < RowBits::kRows ? rows - first : RowBits::kRows;
    detail_elementwise::SelectRows<T> op{{}, a, a_stride, b, out, first, cols};
    for (int64_t i = 0; i < count; ++i)
      if (select[first + i]) op.bits.words[i >> 5] |= 1u << (i & 31);
    for_each(ctx, count * cols, op, "select_rows");
  }
}

}  // namespace mnemo::cuda
