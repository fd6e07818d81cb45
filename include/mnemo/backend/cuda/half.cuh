// mnemo/backend/cuda/half.cuh — the CUDA half-precision element types: their precision traits
// (stored in 16 bits, computed and accumulated in fp32, fp32 master weights when training) and
// value conversions between every element type mnemo stores, on host and device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "mnemo/core/config.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo {

template <>
struct Precision<__half> {
  using storage = __half;
  using compute = float;
  using accumulate = float;
  using master = float;
  static constexpr const char* name = "float16";
  static constexpr const char* safetensors_dtype = "F16";
};

template <>
struct Precision<__nv_bfloat16> {
  using storage = __nv_bfloat16;
  using compute = float;
  using accumulate = float;
  using master = float;
  static constexpr const char* name = "bfloat16";
  static constexpr const char* safetensors_dtype = "BF16";
};

namespace cuda {

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

/// `x` as a U. Half types go through float; a double becomes a half type with one rounding
/// (round to nearest even), everything else as static_cast.
template <class U, class S>
MNEMO_DEVICE_INLINE U convert(S x) {
  if constexpr (std::is_same_v<U, S>) {
    return x;
  } else if constexpr (std::is_same_v<S, __half>) {
    return convert<U>(__half2float(x));
  } else if constexpr (std::is_same_v<S, __nv_bfloat16>) {
    return convert<U>(__bfloat162float(x));
  } else if constexpr (std::is_same_v<U, __half>) {
    if constexpr (std::is_same_v<S, double>) return __double2half(x);
    else return __float2half_rn(static_cast<float>(x));
  } else if constexpr (std::is_same_v<U, __nv_bfloat16>) {
    if constexpr (std::is_same_v<S, double>) return __double2bfloat16(x);
    else return __float2bfloat16_rn(static_cast<float>(x));
  } else {
    return static_cast<U>(x);
  }
}

}  // namespace cuda
}  // namespace mnemo
