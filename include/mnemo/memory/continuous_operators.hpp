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
#include "mnemo/memory/operator_bands.hpp"
#include "mnemo/memory/ridge_fit.hpp"
#include "mnemo/memory/smooth_read.hpp"

namespace mnemo::memory {

template <class T, class B>
struct LengthOperators {
  int64_t length = 0;
  Tensor<T, B> fit, fit_new, fit_old, contract;
  /// Bands of fitᵀ, fit_newᵀ [N, L] and contract [N, N] and their tails' factors (band_operator;
  /// one dense band of each whole operator in double).
  std::vector<OperatorBand> fit_bands, fit_new_bands, contract_bands;
  Tensor<T, B> fit_factors, fit_new_factors, contract_factors;
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
  /// The tables of the read's Chebyshev expansion for wide densities (smooth_read.hpp; host memory).
  const SmoothReadTables& smooth_read() const { return smooth_read_; }

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
    // gets a negligible weight from it): a float-compute memory applies them in bands with
    // low-rank tails (operator_bands.hpp).
    const double floor = std::is_same_v<C, float> ? kOperatorBandFloor : 0.0;
    auto banded = [&](const HostMatrix& op, std::vector<OperatorBand>& bands, Tensor<T, B>& factors) {
      BandedOperator b = band_operator(op, floor);
      bands = std::move(b.bands);
      std::vector<T> host(b.factors.size());
      std::transform(b.factors.begin(), b.factors.end(), host.begin(), [](double v) { return static_cast<T>(v); });
      factors = upload<T>(host, Shape{static_cast<int64_t>(host.size())});
    };
    banded(fit.transpose(), ops->fit_bands, ops->fit_factors);
    banded(new_rows.transpose(), ops->fit_new_bands, ops->fit_new_factors);
    banded(contract, ops->contract_bands, ops->contract_factors);
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
  SmoothReadTables smooth_read_;
  mutable std::mutex mutex_;
  mutable std::map<int64_t, std::unique_ptr<LengthOperators<T, B>>> by_length_;
};

template <class T, class B>
ContinuousOperators<T, B>::ContinuousOperators(const ContinuousMemoryConfig& config, Context<B>& ctx)
    : config_(config), basis_(config.basis), ctx_(&ctx) {
  config.validate();
  if constexpr (std::is_same_v<T, float> && std::is_same_v<B, Cpu>) smooth_read_ = SmoothReadTables(basis_);
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
