// mnemo/core/bfloat16_fwd.hpp — the name mnemo::bfloat16 (Eigen::bfloat16, declared, not defined)
// and its precision traits, without Eigen. The CPU backend names the type (its GEMM dispatches
// on it); in a user TU of the compiled mode that is all it needs, so Eigen is not parsed there. Code
// that creates or converts bfloat16 values includes mnemo/core/bfloat16.hpp (the full type).
#pragma once

#include "mnemo/core/precision.hpp"

namespace Eigen {
struct bfloat16;  // Eigen/Core (3.4): the 16-bit storage type; arithmetic through float
}  // namespace Eigen

namespace mnemo {

/// bfloat16 on the host: Eigen::bfloat16 (usable without CUDA); complete in core/bfloat16.hpp.
using bfloat16 = Eigen::bfloat16;

/// Stored in 16 bits, computed, accumulated and trained (master weights) in fp32.
template <>
struct Precision<bfloat16> {
  using storage = bfloat16;
  using compute = float;
  using accumulate = float;
  using master = float;
  static constexpr const char* name = "bfloat16";
  static constexpr const char* safetensors_dtype = "BF16";
};

}  // namespace mnemo
