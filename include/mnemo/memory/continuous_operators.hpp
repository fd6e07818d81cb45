// mnemo/memory/continuous_operators.hpp — the constant operators of the ∞-former's long-term
// memory, built once in double and cast to the layer's element type (infinite_former.md §3, §5):
//   fit       G_L                          [L, N]   first write:   B = G_Lᵀ X̃
//   fit_new   rows M..M+L−1 of G_inf       [L, N]   contraction:   B = G_oldᵀ X_past + G_newᵀ X̃
//   fit_old   rows 0..M−1 of G_inf         [M, N]
//   contract  G_oldᵀ Ψ_s (uniform s_k)     [N, N]   contraction without sticky memories:
//                                                    B = contract·B_prev + G_newᵀ X̃ (one GEMM
//                                                    instead of sampling X_past = Ψ_s B_prev first)
// The configuration's segment length is built eagerly; other lengths (a shorter last segment)
// on first use. One bank can be shared by every layer of a model (same configuration).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#include "mnemo/backend/tags.hpp"
#include "mnemo/core/precision.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/memory/continuous_basis.hpp"
#include "mnemo/memory/continuous_memory_config.hpp"
#include "mnemo/memory/continuous_operators_fwd.hpp"
#include "mnemo/memory/ridge_fit.hpp"

namespace mnemo::memory {

/// Output rows [row_begin, row_end) of an operator and the inner range [k_begin, k_end) outside
/// which every entry of those rows is negligible (see operator_bands).
struct OperatorBand {
  int64_t row_begin = 0, row_end = 0, k_begin = 0, k_end = 0;
};

/// What a band may leave out of each output row of a float-compute memory's operator: entries
/// whose magnitudes sum to at most this fraction (2⁻³⁰ ≈ 9·10⁻¹⁰) of the operator's largest
/// magnitude, i.e. far below the float rounding (2⁻²⁴) of the row's largest term.
inline constexpr double kOperatorBandFloor = 9.313225746154785e-10;
/// Output rows per band.
inline constexpr int64_t kOperatorBandRows = 32;

/// Bands of op [rows = outputs, cols = inner]: blocks of kOperatorBandRows rows, each with the
/// smallest inner range (rounded out to multiples of 16) such that the entries of each of its rows
/// outside it sum in magnitude to at most floor·max|op| (half on each side); a block whose rows
/// are that small throughout gets an empty range (its rows are zero). floor = 0 gives one band of
/// the whole operator (exact products: the double memory).
inline std::vector<OperatorBand> operator_bands(const HostMatrix& op, double floor) {
  const int64_t rows = op.rows(), inner = op.cols();
  if (floor <= 0 || rows == 0 || inner == 0) return {OperatorBand{0, rows, 0, inner}};
  const double budget = 0.5 * floor * op.cwiseAbs().maxCoeff();  // per side of a row
  std::vector<OperatorBand> bands;
  for (int64_t r0 = 0; r0 < rows; r0 += kOperatorBandRows) {
    const int64_t r1 = std::min(rows, r0 + kOperatorBandRows);
    int64_t lo = inner, hi = 0;
    for (int64_t r = r0; r < r1; ++r) {
      int64_t first = 0, last = inner;  // this row keeps [first, last)
      for (double left = 0; first < inner && (left += std::abs(op(r, first))) <= budget;) ++first;
      for (double right = 0; last > first && (right += std::abs(op(r, last - 1))) <= budget;) --last;
      if (first < last) {
        lo = std::min(lo, first);
        hi = std::max(hi, last);
      }
    }
    if (lo >= hi) lo = hi = 0;
    else {
      lo = lo / 16 * 16;
      hi = std::min(inner, (hi + 15) / 16 * 16);
    }
    bands.push_back(OperatorBand{r0, r1, lo, hi});
  }
  return bands;
}

template <class T, class B>
struct LengthOperators {
  int64_t length = 0;
  Tensor<T, B> fit, fit_new, fit_old, contract;
  /// Bands of fitᵀ, fit_newᵀ [N, L] and contract [N, N] (operator_bands; whole operators in double).
  std::vector<OperatorBand> fit_bands, fit_new_bands, contract_bands;
};

template <class T, class B>
class ContinuousOperators {
 public:
  using C = compute_t<T>;

  ContinuousOperators(const ContinuousMemoryConfig& config, Context<B>& ctx);

  const ContinuousMemoryConfig& config() const { return config_; }
  const ContinuousBasis& basis() const { return basis_; }
  int64_t basis_size() const { return basis_.size(); }
  /// Centres μ_j and squared widths σ_j² in compute precision [N] (for the expectation kernel).
  const Tensor<C, B>& centres() const { return centres_; }
  const Tensor<C, B>& widths_sq() const { return widths_sq_; }

  /// The operators for writes of `length` vectors (built on first use, then cached).
  const LengthOperators<T, B>& for_length(int64_t length) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = by_length_.find(length);
    if (it != by_length_.end()) return *it->second;
    require<ShapeError>(length >= 1, "ContinuousOperators: segment length ", length, ", expected >= 1");
    auto ops = std::make_unique<LengthOperators<T, B>>();
    ops->length = length;
    const auto& c = config_;
    const HostMatrix fit = fit_operator(basis_, length, c.ridge_lambda, c.positions, c.zero_pad);
    const HostMatrix inf = contraction_operator(basis_, length, c.samples, c.tau, c.ridge_lambda, c.zero_pad);
    const auto M = static_cast<Eigen::Index>(c.samples), L = static_cast<Eigen::Index>(length);
    const HostMatrix old_rows = inf.topRows(M), new_rows = inf.bottomRows(L);
    const HostMatrix contract = old_rows.transpose() * basis_.evaluate(uniform_sample_positions(c.samples));
    ops->fit = upload_matrix(fit);
    ops->fit_new = upload_matrix(new_rows);
    ops->fit_old = upload_matrix(old_rows);
    ops->contract = upload_matrix(contract);
    // The operators are local (a basis function far from the positions a vector is written at
    // gets a negligible weight from it): a float-compute memory skips those blocks.
    const double floor = std::is_same_v<C, float> ? kOperatorBandFloor : 0.0;
    ops->fit_bands = operator_bands(fit.transpose(), floor);
    ops->fit_new_bands = operator_bands(new_rows.transpose(), floor);
    ops->contract_bands = operator_bands(contract, floor);
    return *by_length_.emplace(length, std::move(ops)).first->second;
  }

  /// Ψ[m, j] = ψ_j(positions[m]) in the element type (sticky sample positions).
  Tensor<T, B> basis_at(const std::vector<double>& positions) const { return upload_matrix(basis_.evaluate(positions)); }

 private:
  template <class U>
  Tensor<U, B> upload(const std::vector<U>& host, const Shape& shape) const {
    Tensor<U, B> t(shape, ctx_->arena());
    if (!host.empty()) BackendTraits<B>::copy_from_host(*ctx_, t.data(), host.data(), host.size() * sizeof(U));
    return t;
  }
  Tensor<T, B> upload_matrix(const HostMatrix& m) const {
    std::vector<T> host(static_cast<size_t>(m.size()));
    for (Eigen::Index i = 0; i < m.rows(); ++i)
      for (Eigen::Index j = 0; j < m.cols(); ++j) host[static_cast<size_t>(i * m.cols() + j)] = static_cast<T>(m(i, j));
    return upload<T>(host, Shape{m.rows(), m.cols()});
  }

  ContinuousMemoryConfig config_;
  ContinuousBasis basis_;
  Context<B>* ctx_;
  Tensor<C, B> centres_, widths_sq_;
  mutable std::mutex mutex_;
  mutable std::map<int64_t, std::unique_ptr<LengthOperators<T, B>>> by_length_;
};

template <class T, class B>
ContinuousOperators<T, B>::ContinuousOperators(const ContinuousMemoryConfig& config, Context<B>& ctx)
    : config_(config), basis_(config.basis), ctx_(&ctx) {
  config.validate();
  std::vector<C> centres, widths_sq;
  for (int64_t j = 0; j < basis_.size(); ++j) {
    centres.push_back(static_cast<C>(basis_.centre(j)));
    widths_sq.push_back(static_cast<C>(basis_.width(j) * basis_.width(j)));
  }
  centres_ = upload<C>(centres, Shape{basis_.size()});
  widths_sq_ = upload<C>(widths_sq, Shape{basis_.size()});
  for_length(config.segment_length);
}

}  // namespace mnemo::memory

// Compiled mode (docs/compile_time.md): linking mnemo::compiled defines MNEMO_COMPILED; these
// instantiations are then compiled once, in src/compiled/, instead of in every user TU.
#if defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu.hpp"

namespace mnemo::memory {
extern template class ContinuousOperators<float, Cpu>;
extern template class ContinuousOperators<double, Cpu>;
}  // namespace mnemo::memory
#endif  // MNEMO_COMPILED
