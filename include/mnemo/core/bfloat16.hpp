// mnemo/core/bfloat16.hpp — the CPU's 16-bit element type, bfloat16 (1 sign, 8 exponent, 7
// mantissa bits: fp32's range at 3 significant digits). Eigen 3.4's storage type (arithmetic
// through float, conversions round to nearest even) is mnemo::bfloat16; its precision traits
// follow the CUDA half types (backend/cuda/half.cuh): stored in 16 bits, computed and accumulated
// in fp32, fp32 master weights when training.
#pragma once

#include <cstdint>
#include <cstring>

#include <Eigen/Core>

#include "mnemo/core/bfloat16_fwd.hpp"  // the name and Precision<bfloat16>

namespace mnemo {

/// The 16 bits of `x`: the upper half of the float it stands for.
inline uint16_t bfloat16_bits(bfloat16 x) {
  uint16_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  return bits;
}

/// The float a bfloat16 bit pattern stands for (exact: the bits become the float's upper half).
inline float bfloat16_bits_to_float(uint16_t bits) {
  const uint32_t word = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &word, sizeof(f));
  return f;
}

}  // namespace mnemo
