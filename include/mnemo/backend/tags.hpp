// mnemo/backend/tags.hpp — backend tag types and the BackendTraits primary template.
//
// Layers are templates over <T, Backend> and never branch on the backend: every primitive they
// use is a static member of BackendTraits<Backend>. A backend is added by specialising the
// traits (see mnemo/backend/cpu.hpp and mnemo/backend/cuda/traits.cuh) and passing the shared
// conformance tests. Core's Tensor names the traits only for allocation and copies.
#pragma once

#include <type_traits>

namespace mnemo {

/// Host execution on Eigen (+ OpenMP when available).
struct Cpu {
  static constexpr const char* name = "cpu";
};
/// NVIDIA GPUs through CUDA kernels and cuBLAS. Only usable from nvcc translation units that
/// include <mnemo/cuda.cuh>.
struct Cuda {
  static constexpr const char* name = "cuda";
};

template <class>
inline constexpr bool dependent_false = false;

template <class Backend>
struct BackendTraits {
  static_assert(dependent_false<Backend>,
                "mnemo::BackendTraits<Backend> is not specialised for this backend: include "
                "<mnemo/backend/cpu.hpp> (or <mnemo/mnemo.hpp>) for mnemo::Cpu, or "
                "<mnemo/cuda.cuh> from a file compiled by nvcc for mnemo::Cuda");
};

/// The stream/handle/arena bundle every primitive of `Backend` takes first.
template <class Backend>
using Context = typename BackendTraits<Backend>::Context;

}  // namespace mnemo
