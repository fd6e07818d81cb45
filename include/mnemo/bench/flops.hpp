// mnemo/bench/flops.hpp — the floating-point operations of mnemo's layers and models, counted the
// way every mnemo benchmark and mnemo-bench report them (docs/benchmarking.md, "FLOP formulas").
//
// Counting rule: 2·m·n·k per m×n×k product, dense. Softmax, norms, activations, biases and
// elementwise work are not counted; a causal mask does not halve the attention products (mnemo's
// CPU path skips the hidden blocks, so its rate can exceed a GEMM ceiling). Training counts the
// model's FLOPs: forward + backward = 3 × forward (the backward runs two products of the forward's
// size per forward product); recomputation (MRBP's second encoder pass) is not counted.
//
//   double f = mnemo::bench::memformer_step_flops(config, /*batch=*/1, /*with_decoder=*/true);
//   double gflops = f / seconds * 1e-9;
#pragma once

#include <cstdint>

#include "mnemo/models/infinite_former_config.hpp"
#include "mnemo/models/memformer_config.hpp"

namespace mnemo::bench {

/// Training (forward + backward) over forward: the backward runs dX and dW of every product.
inline constexpr double kTrainingFactor = 3.0;

/// One m×n×k product: 2·m·n·k.
inline double gemm_flops(int64_t m, int64_t n, int64_t k) {
  return 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
}

/// nn::Linear on `rows` rows: 2·rows·d_in·d_out.
inline double linear_flops(int64_t rows, int64_t d_in, int64_t d_out) { return gemm_flops(rows, d_out, d_in); }

/// nn::FeedForward (d → d_ff → d) on `rows` rows: 4·rows·d·d_ff.
inline double feed_forward_flops(int64_t rows, int64_t d_model, int64_t d_ff) {
  return linear_flops(rows, d_model, d_ff) + linear_flops(rows, d_ff, d_model);
}

/// nn::MultiHeadAttention forward, `queries` query rows over `keys` key rows per batch row:
/// projections Q, O: 4·B·Lq·d²; K, V: 4·B·Lk·d²; S = Q·Kᵀ and A·V: 4·B·Lq·Lk·d (all heads).
/// Self-attention (Lq = Lk = L): 8·B·L·d² + 4·B·L²·d.
inline double attention_flops(int64_t batch, int64_t queries, int64_t keys, int64_t d_model) {
  const double b = static_cast<double>(batch);
  return b * (2 * linear_flops(queries, d_model, d_model) + 2 * linear_flops(keys, d_model, d_model) +
              2 * gemm_flops(queries, keys, d_model));
}

/// A Memformer encoder layer: self-attention, the memory reader (L queries over K slots) and FFN.
inline double memformer_encoder_layer_flops(const models::MemformerConfig& c, int64_t batch) {
  const int64_t L = c.segment_length;
  return attention_flops(batch, L, L, c.d_model) + attention_flops(batch, L, c.slots, c.d_model) +
         static_cast<double>(batch) * feed_forward_flops(L, c.d_model, c.d_ff);
}

/// The Memformer slot writer: K slot queries over the L encoder outputs.
inline double memformer_writer_flops(const models::MemformerConfig& c, int64_t batch) {
  return attention_flops(batch, c.slots, c.segment_length, c.d_model);
}

/// A Memformer decoder layer, teacher-forced: self-attention, cross-attention to H_t, FFN.
inline double memformer_decoder_layer_flops(const models::MemformerConfig& c, int64_t batch) {
  const int64_t L = c.segment_length;
  return 2 * attention_flops(batch, L, L, c.d_model) + static_cast<double>(batch) * feed_forward_flops(L, c.d_model, c.d_ff);
}

/// One Memformer::step: encoder layers + writer; with_decoder adds the decoder layers and the
/// vocabulary head 2·B·L·d·V (a step given a target segment).
inline double memformer_step_flops(const models::MemformerConfig& c, int64_t batch, bool with_decoder) {
  double f = static_cast<double>(c.encoder_layers) * memformer_encoder_layer_flops(c, batch) + memformer_writer_flops(c, batch);
  if (with_decoder)
    f += static_cast<double>(c.decoder_layers) * memformer_decoder_layer_flops(c, batch) +
         static_cast<double>(batch) * linear_flops(c.segment_length, c.d_model, c.vocab);
  return f;
}

/// Memformer::generate of one segment (L tokens, one at a time, key/value cache) followed by the
/// step that encodes it. Per decoder layer and token i (0-based): projections as the teacher-
/// forced decoder, self-attention scores over i+1 cached keys (Σ = 2·B·L·(L+1)·d instead of
/// 4·B·L²·d), cross-attention over the L encoder outputs.
inline double memformer_generate_flops(const models::MemformerConfig& c, int64_t batch) {
  const double b = static_cast<double>(batch), L = static_cast<double>(c.segment_length), d = static_cast<double>(c.d_model);
  const double cached_scores = 2 * b * L * (L + 1) * d, dense_scores = 4 * b * L * L * d;
  const double decoder = memformer_decoder_layer_flops(c, batch) - dense_scores + cached_scores;
  return memformer_step_flops(c, batch, false) + static_cast<double>(c.decoder_layers) * decoder +
         b * linear_flops(c.segment_length, c.d_model, c.vocab);
}

/// One training rollout of `steps` segment steps (MRBP or BPTT): kTrainingFactor × the forward
/// steps with decoder. The same count for both methods: MRBP's recomputation is extra work, not
/// extra model FLOPs.
inline double memformer_rollout_flops(const models::MemformerConfig& c, int64_t batch, int64_t steps) {
  return kTrainingFactor * static_cast<double>(steps) * memformer_step_flops(c, batch, true);
}

/// The ∞-former long-term memory's read + update of one segment, as the algorithm is written
/// (infinite_former.md §4–§6): gate convolution (kernel 3) 6·B·L·e², sampling the old signal
/// Ψ_s·B 2·B·M·N·e, refit over M + L points 2·B·N·(M+L)·e, K and V 4·B·N·e², scores and r·V
/// 4·B·Lq·N·e, output projection 2·B·Lq·e². L: vectors written, Lq: queries read, N: basis
/// functions, M: samples of the old signal.
inline double ltm_read_update_flops(int64_t batch, int64_t written, int64_t queries, int64_t d_model, int64_t basis,
                                    int64_t samples) {
  const double b = static_cast<double>(batch), L = static_cast<double>(written), q = static_cast<double>(queries),
               e = static_cast<double>(d_model), N = static_cast<double>(basis), M = static_cast<double>(samples);
  return b * (6 * L * e * e + 2 * M * N * e + 2 * N * (M + L) * e + 4 * N * e * e + 4 * q * N * e + 2 * q * e * e);
}

/// One ∞-former step in steady state (the short-term window full, a segment leaving it every
/// step): per layer, causal attention of the L segment queries over (stm_segments + 1)·L keys
/// (the cached layer inputs are projected again each step), the LTM read + update, the FFN; then
/// the vocabulary head. With use_ltm = false the LTM term is dropped.
inline double infinite_former_step_flops(const models::InfiniteFormerConfig& c, int64_t batch) {
  const int64_t L = c.segment_length, keys = (c.stm_segments + 1) * L;
  const auto ltm = c.memory_config();
  double layer = attention_flops(batch, L, keys, c.d_model) + static_cast<double>(batch) * feed_forward_flops(L, c.d_model, c.d_ff);
  if (c.use_ltm) layer += ltm_read_update_flops(batch, L, L, c.d_model, ltm.basis.count, ltm.samples);
  return static_cast<double>(c.layers) * layer + static_cast<double>(batch) * linear_flops(L, c.d_model, c.vocab);
}

}  // namespace mnemo::bench
