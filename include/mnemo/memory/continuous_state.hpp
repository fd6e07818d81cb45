// mnemo/memory/continuous_state.hpp — the stream state of one ∞-former long-term memory
// (infinite_former.md §5, §15), separate from the layer's parameters:
//   coefficients   B [batch, N, e]; a row is EMPTY (has_memory = 0, coefficients 0) until its
//                  first write and after a reset
//   tokens_written per row (for reset_every_tokens)
//   sticky         the previous read's densities (μ, σ²) [batch, H·L_q] per row (the sampler uses σ)
//   rng            key and draw counter of the sticky sampler: a saved and restored state
//                  resumes bit for bit
// Its size is N·e per row (+ 2·H·L_q with sticky memories) however many tokens it summarises.
#pragma once

#include <cstdint>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/rng.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::memory {

template <class T, class B>
struct ContinuousState {
  using C = compute_t<T>;

  Tensor<T, B> coefficients;           // [batch, N, e]
  std::vector<uint8_t> has_memory;     // [batch]
  std::vector<int64_t> tokens_written; // [batch]
  Tensor<C, B> sticky_mu, sticky_sigma2;  // [batch, densities] (undefined until a read stored them)
  std::vector<uint8_t> has_densities;  // [batch]
  RngKey key;                          // sticky sampler stream
  uint64_t draws = 0;                  // samplings done so far (each derives its own sub-key)

  /// An empty state for `batch` rows of N×e coefficients.
  static ContinuousState empty(int64_t batch, int64_t basis, int64_t width, RngKey key, Arena& arena) {
    require<ShapeError>(batch >= 1, "ContinuousState: batch = ", batch, ", expected >= 1");
    ContinuousState s;
    s.coefficients = Tensor<T, B>(Shape{batch, basis, width}, arena);
    s.coefficients.zero();
    s.has_memory.assign(static_cast<size_t>(batch), 0);
    s.tokens_written.assign(static_cast<size_t>(batch), 0);
    s.has_densities.assign(static_cast<size_t>(batch), 0);
    s.key = key;
    return s;
  }

  int64_t batch() const { return coefficients.shape()[0]; }
  int64_t basis_size() const { return coefficients.shape()[1]; }
  int64_t width() const { return coefficients.shape()[2]; }
  bool any_memory() const {
    for (uint8_t m : has_memory)
      if (m) return true;
    return false;
  }

  /// Empties the rows whose flag is set (document boundaries); other rows are untouched.
  void reset_rows(const std::vector<uint8_t>& mask) {
    require<ShapeError>(static_cast<int64_t>(mask.size()) == batch(), "ContinuousState::reset_rows: mask has ",
                        mask.size(), " entries, expected batch=", batch());
    const int64_t row = basis_size() * width();
    for (size_t b = 0; b < mask.size(); ++b) {
      if (!mask[b]) continue;
      own_coefficients();
      BackendTraits<B>::fill(BackendTraits<B>::default_context(), coefficients.data() + static_cast<int64_t>(b) * row, row, T{});
      has_memory[b] = 0;
      tokens_written[b] = 0;
      has_densities[b] = 0;
    }
  }

  /// A deep copy (the coefficients and densities in fresh storage).
  ContinuousState clone() const {
    ContinuousState s = *this;
    s.coefficients = coefficients.clone();
    s.sticky_mu = sticky_mu.clone();
    s.sticky_sigma2 = sticky_sigma2.clone();
    return s;
  }

  /// Numbers held in backend memory (coefficients + sticky densities).
  int64_t numel() const { return coefficients.numel() + sticky_mu.numel() + sticky_sigma2.numel(); }

  /// Makes the coefficients storage private before an in-place change (a recorded read may
  /// still hold the old tensor for its backward).
  void own_coefficients() {
    if (!coefficients.unique()) coefficients = coefficients.clone();
  }
};

}  // namespace mnemo::memory
