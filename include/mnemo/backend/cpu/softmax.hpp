// mnemo/backend/cpu/softmax.hpp — masked softmax with a logit scale (1 / (temperature·√d_h)).
//   forward:  y = softmax(scale · x + bias, masked entries −∞)       per row of `cols`
//   backward: dx = scale · y ⊙ (dy − <y, dy>)                           (spec §3, temperature)
// Rows are vectorised with Eigen arrays (its SIMD exp is within ~1.5 ulp of std::exp in float
// and double). Keys hidden by a causal mask are neither read nor exponentiated.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the kernels (see the end)
#include <type_traits>

#include <Eigen/Core>

#include "mnemo/backend/cpu/elementwise_bf16.hpp"
#endif

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/cpu/thread_scratch.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/backend/softmax_row_mask.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// y = softmax(scale·x + ALiBi bias) with masks, per row (the definitions follow, or, in a user TU
/// of the compiled mode, are in mnemo::compiled for float and double).
template <class T>
void softmax_forward(const T* x, T* y, const SoftmaxDims& dims, compute_t<T> scale, const SoftmaxMask& mask);
/// dx = scale·y⊙(dy − <y, dy>) per row.
template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols, compute_t<T> scale);

#if MNEMO_COMPILED_BODIES
/// Cost of one softmax element for parallel_for (a vectorised exp and a few passes over the row;
/// with 8, the streaming step's 4 heads × 64 queries × 64 keys are shared between two threads).
inline constexpr int64_t kSoftmaxCostPerElement = 8;

namespace detail {
/// One softmax row as an Eigen array (vectorised arithmetic and exp).
template <class T>
using SoftmaxRow = Eigen::Array<T, Eigen::Dynamic, 1>;
}  // namespace detail

template <class T>
void softmax_forward(const T* x, T* y, const SoftmaxDims& dims, compute_t<T> scale,
                     const SoftmaxMask& mask) {
  using C = compute_t<T>;
  using ConstRow = Eigen::Map<const detail::SoftmaxRow<T>>;
  using Row = Eigen::Map<detail::SoftmaxRow<T>>;
  using PaddedRow = Eigen::Map<detail::SoftmaxRow<C>, Eigen::Aligned64>;
  constexpr C kMinusInf = -std::numeric_limits<C>::infinity();
  // The exp runs on whole 64-byte packets: the scratch row starts 64-byte aligned and the visible
  // keys are padded with −∞ to a multiple of kPacket, so Eigen neither peels a head nor finishes a
  // tail with scalar std::exp (a causal row has a ragged end); the padding is never read back.
  constexpr int64_t kPacket = 64 / static_cast<int64_t>(sizeof(C));
  const auto padded = [](int64_t n) { return (n + kPacket - 1) / kPacket * kPacket; };
  const int64_t cols = dims.cols;
  parallel_for(dims.total_rows(), kSoftmaxCostPerElement * cols, [&](int64_t begin, int64_t end) {
    // This thread's scratch row (cpu/thread_scratch.hpp: no allocation per call once warm).
    C* const zbuf = detail::thread_scratch<C, detail::ScratchSlot::Softmax>(padded(cols));
    Eigen::Map<detail::SoftmaxRow<C>> z(zbuf, cols);
    for (int64_t row = begin; row < end; ++row) {
      const T* xr = x + row * cols;
      T* yr = y + row * cols;
      const SoftmaxRowMask<C> rm(dims, mask, row);  // mask semantics shared with the CUDA backend
      const uint8_t* pad = rm.padding;
      // Keys [0, last) are visible to this query; the causal mask hides the rest.
      const int64_t last = rm.visible_end;
      auto zv = z.head(last);
      if constexpr (std::is_same_v<T, bfloat16>) {  // vectorised widening (cpu/elementwise_bf16.hpp)
        bf16_rows::widen(xr, zv.data(), last);
        zv *= scale;
      } else {
        zv = scale * ConstRow(xr, last).template cast<C>();
      }
      if (rm.alibi)
        for (int64_t c = 0; c < last; ++c) zv[c] = rm.logit(zv[c], c);
      if (pad)
        for (int64_t c = 0; c < last; ++c)
          if (pad[c]) zv[c] = kMinusInf;
      const C mx = last > 0 ? zv.maxCoeff() : kMinusInf;
      std::fill(yr + last, yr + cols, T(0));
      if (mx == kMinusInf) {  // every key masked: all-zero probabilities
        std::fill(yr, yr + last, T(0));
        continue;
      }
      std::fill(zbuf + last, zbuf + padded(last), kMinusInf);
      PaddedRow zp(zbuf, padded(last));
      zp = (zp - mx).exp();
      if (pad)  // Eigen's exp(−∞) is a tiny positive number, not 0
        for (int64_t c = 0; c < last; ++c)
          if (pad[c]) zv[c] = C(0);
      const C inv = C(1) / zv.sum();
      if constexpr (std::is_same_v<T, bfloat16>) {  // the same rounding as Eigen's, vectorised
        zv *= inv;
        bf16_rows::narrow(zv.data(), yr, last);
      } else {
        Row(yr, last) = (zv * inv).template cast<T>();
      }
    }
  });
}

template <class T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t cols,
                      compute_t<T> scale) {
  using C = compute_t<T>;
  using ConstRow = Eigen::Map<const detail::SoftmaxRow<T>>;
  parallel_for(rows, 3 * cols, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const auto yr = ConstRow(y + row * cols, cols).template cast<C>();
      const auto dyr = ConstRow(dy + row * cols, cols).template cast<C>();
      const C dot = (yr * dyr).sum();
      // dx may alias dy: each element is read before it is written.
      Eigen::Map<detail::SoftmaxRow<T>>(dx + row * cols, cols) = (scale * yr * (dyr - dot)).template cast<T>();
    }
  });
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/backend_nn_*.cpp.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template void softmax_forward<float>(const float*, float*, const SoftmaxDims&, float, const SoftmaxMask&);
extern template void softmax_forward<double>(const double*, double*, const SoftmaxDims&, double, const SoftmaxMask&);
extern template void softmax_backward<float>(const float*, const float*, float*, int64_t, int64_t, float);
extern template void softmax_backward<double>(const double*, const double*, double*, int64_t, int64_t, double);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
