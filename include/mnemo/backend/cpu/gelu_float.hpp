// mnemo/backend/cpu/gelu_float.hpp — GELU over float rows, vectorised (the FFN's activation in
// the streaming step: with the scalar erf of the C library it was about a sixth of the step).
//   y  = 0.5·z·(1 + erf(z/√2))                 z = x + bias
//   dx = dy·(0.5·(1 + erf(z/√2)) + z·φ(z)),     φ(z) = exp(−z²/2)/√(2π)
// erf and exp are Eigen's packet functions (erf: a rational approximation accurate to a few ulp
// in float, exactly ±1 beyond |x| = 4; exp: within ~1.5 ulp). Double keeps the scalar path.
#pragma once

#include <cstdint>

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include "mnemo/backend/cpu/thread_scratch.hpp"

namespace mnemo::cpu::detail {

using FloatRow = Eigen::Array<float, 1, Eigen::Dynamic>;
using ConstFloatRowMap = Eigen::Map<const FloatRow>;
using FloatRowMap = Eigen::Map<FloatRow>;

/// The calling thread's scratch row of at least `cols` floats, 64-byte aligned, for the row
/// functions below (cpu/thread_scratch.hpp).
inline float* gelu_scratch(int64_t cols) { return thread_scratch<float, ScratchSlot::Gelu>(cols); }

inline constexpr float kInvSqrt2 = 0.70710678118654752440f;
inline constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

/// y[0:cols] = GELU(x + bias) for one row (bias nullable; y may alias x). `scratch`: cols floats.
inline void gelu_row_forward(const float* x, const float* bias, float* y, int64_t cols, float* scratch) {
  FloatRowMap z(scratch, cols);
  if (bias) z = ConstFloatRowMap(x, cols) + ConstFloatRowMap(bias, cols);
  else z = ConstFloatRowMap(x, cols);
  FloatRowMap(y, cols) = 0.5f * z * (1.0f + (z * kInvSqrt2).erf());
}

/// dx[0:cols] = dy·GELU'(x + bias) for one row; adds dx to dbias_part when it is not null.
/// dx may alias dy. `scratch`: cols floats, 64-byte aligned (gelu_scratch): the row is evaluated
/// there, and Eigen evaluates the elements before a destination's first 64-byte boundary on the
/// scalar path, whose exp rounds differently from the vectorised one.
inline void gelu_row_backward(const float* x, const float* bias, const float* dy, float* dx, float* dbias_part,
                              int64_t cols, float* scratch) {
  FloatRowMap z(scratch, cols);
  if (bias) z = ConstFloatRowMap(x, cols) + ConstFloatRowMap(bias, cols);
  else z = ConstFloatRowMap(x, cols);
  z = ConstFloatRowMap(dy, cols) *
      (0.5f * (1.0f + (z * kInvSqrt2).erf()) + z * (-0.5f * z * z).exp() * kInvSqrt2Pi);
  FloatRowMap(dx, cols) = z;
  if (dbias_part) FloatRowMap(dbias_part, cols) += z;
}

}  // namespace mnemo::cpu::detail
