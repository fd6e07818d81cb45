// mnemo/core/precision.hpp — per element type: the type it is stored in, computed in and
// accumulated in, and its safetensors dtype. The CUDA half types are specialised in
// mnemo/backend/cuda/half.cuh so that this header stays free of CUDA.
#pragma once

#include <cstdint>

namespace mnemo {

template <class T>
struct Precision;  // undefined: an element type mnemo does not support

template <>
struct Precision<float> {
  using storage = float;
  using compute = float;     // arithmetic inside kernels
  using accumulate = float;  // sums, statistics (mean / rstd), optimizer moments
  using master = float;      // parameter copy the optimizer updates
  static constexpr const char* name = "float32";
  static constexpr const char* safetensors_dtype = "F32";
};

template <>
struct Precision<double> {
  using storage = double;
  using compute = double;
  using accumulate = double;
  using master = double;
  static constexpr const char* name = "float64";
  static constexpr const char* safetensors_dtype = "F64";
};

template <>
struct Precision<int32_t> {
  using storage = int32_t;
  using compute = int32_t;
  using accumulate = int64_t;
  using master = int32_t;
  static constexpr const char* name = "int32";
  static constexpr const char* safetensors_dtype = "I32";
};

template <>
struct Precision<int64_t> {
  using storage = int64_t;
  using compute = int64_t;
  using accumulate = int64_t;
  using master = int64_t;
  static constexpr const char* name = "int64";
  static constexpr const char* safetensors_dtype = "I64";
};

template <>
struct Precision<uint8_t> {
  using storage = uint8_t;
  using compute = int32_t;
  using accumulate = int64_t;
  using master = uint8_t;
  static constexpr const char* name = "uint8";
  static constexpr const char* safetensors_dtype = "U8";
};

template <class T>
using compute_t = typename Precision<T>::compute;
template <class T>
using accumulate_t = typename Precision<T>::accumulate;
template <class T>
using master_t = typename Precision<T>::master;

}  // namespace mnemo
