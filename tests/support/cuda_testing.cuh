// tests/support/cuda_testing.cuh — helpers of the CUDA tests: tensors moved between the CPU
// (double, the reference) and the GPU (any element type), values rounded to an element type,
// the tolerance per precision, and the comparison every test uses.
#pragma once

#include "mnemo/cuda.cuh"  // before anything that includes Eigen

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "support/testing.hpp"

namespace mnemo::test {

using CpuTraits = BackendTraits<Cpu>;
using CudaTraits = BackendTraits<Cuda>;

inline Context<Cpu>& cpu_ctx() { return CpuTraits::default_context(); }
inline Context<Cuda>& gpu_ctx() { return CudaTraits::default_context(); }

/// Normwise relative error allowed against the CPU double reference for one primitive call.
template <class T>
constexpr double tolerance() {
  if constexpr (std::is_same_v<T, double>) return 1e-10;
  else if constexpr (std::is_same_v<T, float>) return 1e-5;
  else return 1e-2;  // __half, __nv_bfloat16: one rounding of the fp32 result (2^-11, 2^-8)
}
/// ... and for a whole layer (or a chain of ops), forward and backward, whose intermediates are
/// stored in T: every stored tensor is rounded again, about ten times along a layer and its
/// backward. Calibrated on the CPU with PyTorch's bfloat16 on the same block as the layer test
/// (fp32 softmax / statistics, storage in bf16): logits 1.4e-2, memory gradient 1.9e-2, worst
/// parameter gradient 4.5e-2 (a bias, summed over rows with cancellation); float32 there gave
/// 1.8e-7 and 1.2e-6. fp16 keeps 3 more bits than bf16 (about 8x smaller errors).
template <class T>
constexpr double layer_tolerance() {
  if constexpr (std::is_same_v<T, double>) return 1e-9;
  else if constexpr (std::is_same_v<T, float>) return 1e-5;
  else if constexpr (std::is_same_v<T, __half>) return 2e-2;
  else return 1e-1;
}

template <class T>
const char* type_name() {
  return Precision<T>::name;
}

/// The values of `x` as a T holds them (rounded to T and back to double).
template <class T>
TensorD quantize(const TensorD& x) {
  TensorD y(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) y[i] = cuda::convert<double>(cuda::convert<T>(x[i]));
  return y;
}

/// A device tensor of T holding the values of `x` (rounded to T).
template <class T>
Tensor<T, Cuda> upload(const TensorD& x) {
  std::vector<T> host(static_cast<size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) host[static_cast<size_t>(i)] = cuda::convert<T>(x[i]);
  return Tensor<T, Cuda>::from_host(x.shape(), host);
}
/// Host copy of any host-side array type U (ids, masks, slopes) on the device.
template <class U>
Tensor<U, Cuda> upload_exact(const Tensor<U, Cpu>& x) {
  return Tensor<U, Cuda>::from_host(x.shape(), x.to_host());
}

/// The values of a device tensor, in double on the host (synchronises).
template <class T>
TensorD download(const Tensor<T, Cuda>& x) {
  const std::vector<T> host = x.to_host();
  TensorD y(x.shape());
  for (int64_t i = 0; i < y.numel(); ++i) y[i] = cuda::convert<double>(host[static_cast<size_t>(i)]);
  return y;
}
/// ... from a raw device pointer of n elements.
template <class T>
TensorD download(const T* device, const Shape& shape) {
  std::vector<T> host(static_cast<size_t>(shape.numel()));
  if (!host.empty()) CudaTraits::copy_to_host(gpu_ctx(), host.data(), device, host.size() * sizeof(T));
  TensorD y(shape);
  for (int64_t i = 0; i < y.numel(); ++i) y[i] = cuda::convert<double>(host[static_cast<size_t>(i)]);
  return y;
}

inline int64_t count_nonfinite(const TensorD& x) {
  int64_t bad = 0;
  for (int64_t i = 0; i < x.numel(); ++i) bad += std::isfinite(x[i]) ? 0 : 1;
  return bad;
}

/// CHECKs that `actual` is finite everywhere and within `tol` (normwise relative error) of the
/// reference.
inline void check_close(const std::string& what, const TensorD& actual, const TensorD& reference, double tol) {
  INFO(what);
  REQUIRE(actual.shape() == reference.shape());
  CHECK(count_nonfinite(actual) == 0);
  const double err = rel_error(actual, reference);
  INFO("normwise relative error " << err << " (tolerance " << tol << ")");
  CHECK(err < tol);
}

/// Gives `to` (CPU, double) the parameter values of `from` (CUDA, T), same names in the same
/// order: the reference then starts from exactly the values the GPU holds.
template <class T>
void copy_parameters(const nn::ParameterStore<T, Cuda>& from, nn::ParameterStore<double, Cpu>& to) {
  REQUIRE(from.size() == to.size());
  for (size_t i = 0; i < from.size(); ++i) {
    REQUIRE(from[i].name == to[i].name);
    to[i].value.copy_from(download(from[i].value));
  }
}

/// Bytes of a device tensor on the host, for bitwise comparisons.
template <class T>
std::vector<unsigned char> bytes_of(const Tensor<T, Cuda>& x) {
  const std::vector<T> host = x.to_host();
  std::vector<unsigned char> out(host.size() * sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), host.data(), out.size());
  return out;
}

}  // namespace mnemo::test
