// mnemo/backend/primitives.hpp — backend-neutral parameter types of the primitives that every
// BackendTraits specialisation provides. The full list of primitives, with their contracts, is
// documented on BackendTraits<Cpu> in mnemo/backend/cpu.hpp; the CUDA traits mirror it.
#pragma once

#include <cstdint>

#include "mnemo/core/config.hpp"
#include "mnemo/core/rng.hpp"

namespace mnemo {

/// Transpose flag of a GEMM operand (row-major storage).
enum class Trans { N, T };

/// Extents of a batch of softmax rows laid out as [outer, heads, rows, cols].
struct SoftmaxDims {
  int64_t outer = 1;  // batch rows (the key-padding mask is indexed by it)
  int64_t heads = 1;
  int64_t rows = 1;   // queries
  int64_t cols = 1;   // keys
  int64_t total_rows() const { return outer * heads * rows; }
};

/// Which logits a masked softmax ignores, and additive position biases.
/// Key c is masked for query r when
///   causal and c > r + query_offset, or key_padding[o * cols + c] != 0.
/// With alibi_slopes, logit (r, c) gets −slope[h]·(r + query_offset − c) added (after scaling).
/// A row whose every key is masked yields all-zero probabilities (never NaN).
struct SoftmaxMask {
  bool causal = false;
  int64_t query_offset = 0;
  const uint8_t* key_padding = nullptr;  // [outer, cols] in the backend's memory, nonzero = masked
  const float* alibi_slopes = nullptr;   // [heads] in the backend's memory
};

enum class Activation { Identity, Relu, Gelu };

/// One AdamW step (decoupled weight decay, as PyTorch's AdamW):
///   g ← grad_scale·g;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
///   p ← p·(1 − lr·wd) − lr · (m / bc1) / (sqrt(v / bc2) + eps),  bc_i = 1 − β_i^step.
struct AdamWStep {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  int64_t step = 1;  // 1-based, for bias correction
  double grad_scale = 1.0;
};

}  // namespace mnemo

namespace mnemo {

/// Extents of Memformer's slot-attention writer (memformer.md §2.4). Slot-side tensors (queries,
/// self keys, raw slots, output) are [batch, slots, heads·head_dim]; token-side tensors (keys,
/// values) are [batch, tokens, heads·head_dim]; probabilities are [batch, heads, slots, 1+tokens]
/// with column 0 the slot's self logit. Head h is the column slice h·head_dim … (h+1)·head_dim−1.
struct MemformerWriterDims {
  int64_t batch = 1;
  int64_t slots = 1;
  int64_t tokens = 0;
  int64_t heads = 1;
  int64_t head_dim = 1;
  MNEMO_HOST_DEVICE int64_t width() const { return heads * head_dim; }
  MNEMO_HOST_DEVICE int64_t prob_cols() const { return 1 + tokens; }
};

}  // namespace mnemo
