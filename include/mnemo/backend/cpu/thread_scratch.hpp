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
};

/// The calling thread's buffer `Slot` of at least `n` elements of T (contents unspecified; valid
/// until the next call with the same T and Slot on this thread).
template <class T, ScratchSlot Slot>
inline T* thread_scratch(int64_t n) {
  thread_local std::vector<T> buffer;
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<std::size_t>(n));
  return buffer.data();
}

}  // namespace mnemo::cpu::detail
