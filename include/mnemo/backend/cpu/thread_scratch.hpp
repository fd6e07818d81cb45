// mnemo/backend/cpu/thread_scratch.hpp — the calling thread's scratch buffers for CPU kernels.
// A kernel that needs a temporary row inside a parallel loop asks for it here instead of
// allocating: each thread keeps one buffer per (element type, slot), grown to the largest size
// asked for and never shrunk, so a warm step allocates nothing. Buffers of different slots never
// alias, so one kernel may hold several rows at once, and a kernel that calls another (the bf16
// GELU row calls the fp32 one) uses slots the callee does not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mnemo::cpu::detail {

/// Which scratch buffer of a thread: one slot per concurrent use.
enum class ScratchSlot : int {
  RowA,       ///< bf16 rows widened to fp32 (cpu/elementwise_bf16.hpp): the row itself
  RowB,       ///< ... a second operand (bias, broadcast row, gamma)
  RowC,       ///< ... a third operand (beta)
  Gelu,       ///< z = x + bias of one GELU row (cpu/gelu_float.hpp)
  Softmax,    ///< the scaled logits of one softmax row (cpu/softmax.hpp)
  SmallGemm,  ///< a transposed B of the small-matrix GEMM (cpu/small_gemm.hpp)
  AttentionDp,  ///< dP = dS of one (batch row, head), Lq × Lk, in the attention backward (nn/attention.hpp)
  AttentionHead,  ///< Kᵀ or Vᵀ panels, dS and P of one block of queries (cpu/attention_head.hpp)
  GemmPack,       ///< the packed A and B panels of Eigen's GEMM kernel (cpu/gemm.hpp)
  WriterWidened,  ///< a bf16 memory writer's inputs and outputs in fp32 (cpu/memformer_writer.hpp)
  ProviderCopy,   ///< columns of a B copied contiguous for oneDNN's sgemm (cpu/gemm_onednn.hpp)
  Bf16Avx2,       ///< the widened A and B and the partial sums of the AVX2 bf16 GEMM (cpu/gemm_bf16_avx2.hpp)
  AttentionWidened,  ///< a bf16 head's Q, K, V widened to fp32 and its fp32 output (cpu/attention_forward.hpp)
};

/// Bytes to which every scratch buffer's start is aligned.
inline constexpr std::size_t kScratchAlign = 64;

/// The calling thread's buffer `Slot` of at least `n` elements of T, its start on a
/// kScratchAlign-byte boundary whatever the heap returns (contents unspecified; valid until the
/// next call with the same T and Slot on this thread). SIMD loads of packed panels rely on the
/// alignment, and so do the bits of results: Eigen's vectorised expressions over a dynamic-size
/// row take a scalar path (libm's exp) for the elements before the first 64-byte boundary, so on
/// an unaligned scratch row a result would depend on which thread's buffer the row landed in.
template <class T, ScratchSlot Slot>
inline T* thread_scratch(int64_t n) {
  constexpr int64_t kPad = static_cast<int64_t>((kScratchAlign + sizeof(T) - 1) / sizeof(T));
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < n + kPad) buffer.resize(static_cast<std::size_t>(n + kPad));
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return reinterpret_cast<T*>((address + kScratchAlign - 1) & ~static_cast<std::uintptr_t>(kScratchAlign - 1));
}

}  // namespace mnemo::cpu::detail
