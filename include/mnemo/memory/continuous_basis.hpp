// mnemo/memory/continuous_basis.hpp — the ∞-former's Gaussian radial basis (infinite_former.md §2).
//
//   ψ_j(t) = exp(−(t − μ_j)² / (2σ_j²)) / (σ_j·sqrt(2π))        a normalised Gaussian density
//
// W widths S_0..S_{W−1} and N/W centres c_k = k/(N/W − 1) on [0, 1], interleaved: function
// j = k·W + w has centre c_k and width S_w (the order the learned vectors w_μ, w_σ are indexed by).
// Everything here is host-side double precision: the operators built from it (ridge_fit.hpp) are
// computed once per configuration and then cast to the layer's element type.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "mnemo/core/error.hpp"
#include "mnemo/memory/basis_config.hpp"

namespace mnemo::memory {

/// Row-major double matrix used for the host-side operators (fit, contraction, basis values).
using HostMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

inline constexpr double kInvSqrt2Pi = 0.39894228040143267794;

/// The evaluated basis: centre μ_j and width σ_j of every function, and ψ at any position.
class ContinuousBasis {
 public:
  explicit ContinuousBasis(const BasisConfig& config) : config_(config) {
    config.validate();
    const auto W = static_cast<int64_t>(config.widths.size());
    const int64_t centres = config.count / W;
    centre_.resize(static_cast<size_t>(config.count));
    width_.resize(static_cast<size_t>(config.count));
    for (int64_t k = 0; k < centres; ++k)
      for (int64_t w = 0; w < W; ++w) {
        const auto j = static_cast<size_t>(k * W + w);  // interleaved order (§2)
        centre_[j] = static_cast<double>(k) / static_cast<double>(centres - 1);
        width_[j] = config.widths[static_cast<size_t>(w)];
      }
  }

  int64_t size() const { return config_.count; }
  const BasisConfig& config() const { return config_; }
  double centre(int64_t j) const { return centre_[static_cast<size_t>(j)]; }
  double width(int64_t j) const { return width_[static_cast<size_t>(j)]; }
  const std::vector<double>& centres() const { return centre_; }
  const std::vector<double>& widths() const { return width_; }

  /// ψ_j(t).
  double operator()(int64_t j, double t) const { return gaussian(t, centre(j), width(j)); }

  /// Ψ[m, j] = ψ_j(positions[m]): one row per position.
  HostMatrix evaluate(const std::vector<double>& positions) const {
    HostMatrix psi(static_cast<Eigen::Index>(positions.size()), static_cast<Eigen::Index>(size()));
    for (size_t m = 0; m < positions.size(); ++m)
      for (int64_t j = 0; j < size(); ++j)
        psi(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(j)) = (*this)(j, positions[m]);
    return psi;
  }

  /// N(t; mean, sd²).
  static double gaussian(double t, double mean, double sd) {
    const double z = (t - mean) / sd;
    return std::exp(-0.5 * z * z) * kInvSqrt2Pi / sd;
  }

 private:
  BasisConfig config_;
  std::vector<double> centre_, width_;
};

}  // namespace mnemo::memory
