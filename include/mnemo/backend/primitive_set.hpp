// mnemo/backend/primitive_set.hpp — the primitive set every BackendTraits specialisation
// provides, as a C++20 concept: BackendPrimitives<Traits, T> holds when Traits has every member
// that layers call, callable with element type T and the argument types of BackendTraits<Cpu>
// (mnemo/backend/cpu.hpp, where each contract is documented). The tests assert it for Cpu
// (tests/cpu/test_primitive_set.cpp) and for Cuda with float, double, __half and __nv_bfloat16
// (tests/cuda/test_model_primitives.cu), so a primitive added to one backend and not the other
// fails to compile once it is listed here — list every new primitive here.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "mnemo/backend/continuous_read_rule.hpp"
#include "mnemo/backend/primitives.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/rng.hpp"

namespace mnemo {

template <class Traits, class T>
concept BackendPrimitives = requires(typename Traits::Context& ctx, T* y, const T* x, compute_t<T> c,
                                     compute_t<T>* cp, const compute_t<T>* ccp, accumulate_t<T> a,
                                     accumulate_t<T>* ap, const accumulate_t<T>* cap, master_t<T>* mp,
                                     const int32_t* ids, const float* weights, const uint8_t* mask,
                                     void* raw, const void* craw, size_t bytes, int64_t n, Trans t,
                                     const SoftmaxDims& sdims, const SoftmaxMask& smask, Activation act,
                                     RngKey key, const AdamWStep& step, const MemformerWriterDims& wdims,
                                     const ContinuousReadDims& rdims) {
  // context and memory
  { Traits::host_accessible } -> std::convertible_to<bool>;
  { Traits::default_context() } -> std::same_as<typename Traits::Context&>;
  Traits::synchronize(ctx);
  Traits::copy_from_host(ctx, raw, craw, bytes);
  Traits::copy_to_host(ctx, raw, craw, bytes);
  Traits::copy_device(ctx, raw, craw, bytes);
  Traits::copy_2d(ctx, raw, bytes, craw, bytes, bytes, bytes);
  Traits::template fill<T>(ctx, y, n, T{});
  Traits::template cast<T, float>(ctx, n, x, static_cast<float*>(raw));
  Traits::template cast<float, T>(ctx, n, weights, y);
  // linear algebra and attention
  Traits::template gemm<T>(ctx, t, t, n, n, n, c, x, n, n, x, n, n, c, y, n, n, n);
  Traits::template softmax_forward<T>(ctx, x, y, sdims, c, smask);
  Traits::template softmax_backward<T>(ctx, x, x, y, n, n, c);
  // normalisation
  Traits::template layer_norm_forward<T>(ctx, x, x, x, y, ap, ap, n, n, a);
  Traits::template layer_norm_backward<T>(ctx, x, x, x, cap, cap, y, y, y, n, n);
  Traits::template l2_normalize_forward<T>(ctx, x, y, ap, n, n, a);
  Traits::template l2_normalize_backward<T>(ctx, x, cap, x, y, n, n, a);
  // activations, loss, embedding
  Traits::template bias_activation_forward<T>(ctx, x, x, y, n, n, act);
  Traits::template bias_activation_backward<T>(ctx, x, x, x, y, y, n, n, act);
  Traits::template cross_entropy_forward<T>(ctx, x, ids, weights, ap, ap, n, n, int32_t{0});
  Traits::template cross_entropy_backward<T>(ctx, x, ids, weights, cap, a, y, n, n, int32_t{0});
  Traits::template embedding_gather<T>(ctx, x, ids, y, n, n);
  Traits::template embedding_scatter_add<T>(ctx, x, ids, y, n, n);
  { Traits::count_invalid_ids(ctx, ids, n, n, n) } -> std::same_as<int64_t>;
  // elementwise
  Traits::template axpby<T>(ctx, n, c, x, c, y);
  Traits::template add<T>(ctx, n, x, x, y);
  Traits::template mul<T>(ctx, n, x, x, y);
  Traits::template add_row_broadcast<T>(ctx, x, x, y, n, n);
  Traits::template dropout<T>(ctx, n, x, y, 0.5f, key, uint64_t{0});
  Traits::template permute_0213<T>(ctx, x, y, n, n, n, n);
  Traits::template select_rows<T>(ctx, mask, x, n, x, y, n, n);
  // reductions
  { Traits::template sum<T>(ctx, x, n) } -> std::same_as<double>;
  { Traits::template dot<T>(ctx, x, x, n) } -> std::same_as<double>;
  { Traits::template sum_squares<T>(ctx, x, n) } -> std::same_as<double>;
  { Traits::template max_abs<T>(ctx, x, n) } -> std::same_as<double>;
  { Traits::template count_nonfinite<T>(ctx, x, n) } -> std::same_as<int64_t>;
  Traits::template sum_rows<T>(ctx, x, y, n, n, true);
  // ∞-former continuous attention
  Traits::template gaussian_expectation_forward<T>(ctx, ccp, ccp, ccp, ccp, y, n, n);
  Traits::template gaussian_expectation_backward<T>(ctx, ccp, ccp, ccp, ccp, x, cp, cp, n, n);
  Traits::template density_parameters_forward<T>(ctx, x, x, cp, cp, cp, n, c, c);
  Traits::template density_parameters_backward<T>(ctx, x, ccp, ccp, ccp, ccp, y, y, n, c, c, c);
  Traits::template continuous_read_forward<T>(ctx, x, x, ccp, ccp, x, cp, cp, cp, y, y, rdims, c, c);
  Traits::template continuous_read_backward<T>(ctx, x, ccp, ccp, ccp, ccp, x, x, y, y, rdims, c, c, c);
  Traits::template sigmoid_gate_forward<T>(ctx, n, x, x, y);
  Traits::template sigmoid_gate_backward<T>(ctx, n, x, x, x, y);
  // optimizer
  Traits::template adamw_update<T>(ctx, y, x, mp, mp, n, step);
  Traits::template adamw_update_master<T>(ctx, y, x, mp, mp, mp, n, step);
  // Memformer writer
  Traits::template memformer_writer_forward<T>(ctx, x, x, x, x, x, mask, y, y, wdims, c);
  Traits::template memformer_writer_backward<T>(ctx, x, x, x, x, x, x, x, y, y, y, y, y, wdims, c);
};

}  // namespace mnemo
