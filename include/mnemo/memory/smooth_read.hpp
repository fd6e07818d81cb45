// mnemo/memory/smooth_read.hpp — the ∞-former's read for wide densities: the context vector of a
// query, c = Σ_j r_j V_j with r_j = N(μ; c_j, σ² + s_j²) (infinite_former.md §6), through a short
// Chebyshev expansion of the Gaussian over the basis centres instead of all N terms.
//
// For the functions of one width s_w, r_j = g_w(x_j) samples one Gaussian in x = 2c − 1 ∈ [−1, 1],
//   g_w(x) = exp(−(x − x₀)² / (2 s_x²)) / √(2π v_w),  x₀ = 2μ − 1,  v_w = σ² + s_w²,  s_x = 2√v_w.
// Its interpolant of degree K − 1 at the K Chebyshev points, p(x) = Σ_p a_p T_p(x), gives
//   c ≈ Σ_w Σ_p a_{w,p} M_{w,p},  M_{w,p} = Σ_{j of width w} T_p(x_j) V_j,
// i.e. [m queries, W·K] · [W·K, d_h] after the moments M = Φ V ([W·K, N] · [N, d_h]) instead of
// [m, N] · [N, d_h]: at K = 12 and W = 2, 24 terms for 512. A Gaussian is entire; on the Bernstein
// ellipse E_ρ (half-axes summing to ρ) |g/g(x₀)| ≤ exp(b²/(2 s_x²)) with b = (ρ − 1/ρ)/2, so the
// interpolant's error is at most 4 exp(b²/(2 s_x²)) ρ^−K / (1 − 1/ρ) of the Gaussian's peak
// (Trefethen, Approximation Theory and Approximation Practice, Thms 8.1 and 15.1). A degree is taken
// only where that bound, minimised over ρ, is at most kSmoothReadTolerance = 2⁻²⁵ for every query of
// the block (the narrowest density decides), i.e. every r_j changes by less than half a float
// rounding of the largest. Narrower densities (in the LM preset K = 32 reaches down to
// σ ≈ 0.116, σ² ≈ 0.013) take the exact sum over all N functions.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "mnemo/memory/continuous_basis.hpp"

namespace mnemo::memory {

/// The largest change to any r_j the expansion may make, relative to the Gaussian's peak.
inline constexpr double kSmoothReadTolerance = 2.9802322387695312e-08;  // 2⁻²⁵
/// The degrees tried (number of Chebyshev terms K per width), smallest first.
inline constexpr std::array<int, 5> kSmoothReadDegrees = {8, 12, 16, 24, 32};

/// The bound on the error of the K-point Chebyshev interpolant of exp(−(x − x₀)²/(2s²)) on [−1, 1],
/// relative to its peak (see above), minimised over ρ ∈ (1, 64].
inline double chebyshev_gaussian_error_bound(double s, int K) {
  double best = INFINITY;
  for (int i = 1; i <= 2000; ++i) {
    const double rho = 1.0 + 63.0 * i / 2000.0, b = 0.5 * (rho - 1.0 / rho);
    const double log_bound = std::log(4.0) + b * b / (2.0 * s * s) - K * std::log(rho) - std::log(1.0 - 1.0 / rho);
    best = std::min(best, std::exp(std::min(log_bound, 700.0)));
  }
  return best;
}

/// The least s (std in x = 2c − 1) at which K terms meet kSmoothReadTolerance (bisection on the
/// bound, which falls as s grows).
inline double smooth_read_least_std(int K) {
  double narrow = 1e-3, wide = 64.0;  // the bound fails at the first and holds at the second
  for (int i = 0; i < 60; ++i) {
    const double mid = std::sqrt(narrow * wide);
    (chebyshev_gaussian_error_bound(mid, K) <= kSmoothReadTolerance ? wide : narrow) = mid;
  }
  return wide;
}

/// Per basis, the tables of the expansion in float (built once with the memory's operators).
class SmoothReadTables {
 public:
  SmoothReadTables() = default;
  explicit SmoothReadTables(const ContinuousBasis& basis) : n_(basis.size()) {
    widths_sq_.clear();
    for (int64_t j = 0; j < n_ && j < 64; ++j) {  // the W widths of the interleaved basis
      const double w2 = basis.width(j) * basis.width(j);
      if (!widths_sq_.empty() && w2 == widths_sq_.front()) break;
      widths_sq_.push_back(w2);
    }
    const auto W = static_cast<int64_t>(widths_sq_.size());
    for (int64_t j = 0; j < n_; ++j)  // the layout the moments assume: function j has width j mod W
      if (basis.width(j) * basis.width(j) != widths_sq_[static_cast<size_t>(j % W)]) return;
    least_width_sq_ = *std::min_element(widths_sq_.begin(), widths_sq_.end());
    for (size_t d = 0; d < kSmoothReadDegrees.size(); ++d) {
      const int K = kSmoothReadDegrees[d];
      Degree& t = degrees_[d];
      t.least_std = least_stds()[d];
      t.nodes.resize(static_cast<size_t>(K));
      t.dct.resize(static_cast<size_t>(K * K));
      for (int k = 0; k < K; ++k) t.nodes[static_cast<size_t>(k)] = static_cast<float>(std::cos(std::numbers::pi * (k + 0.5) / K));
      for (int p = 0; p < K; ++p)  // a_p = (2/K) Σ_k g(x_k) cos(p·π(k + ½)/K), a_0 halved
        for (int k = 0; k < K; ++k)
          t.dct[static_cast<size_t>(p * K + k)] = static_cast<float>((p == 0 ? 1.0 : 2.0) / K * std::cos(p * std::numbers::pi * (k + 0.5) / K));
      t.phi.assign(static_cast<size_t>(W * K * n_), 0.0f);  // row w·K + p: T_p(x_j) at functions of width w
      for (int64_t j = 0; j < n_; ++j) {
        const double x = std::clamp(2.0 * basis.centre(j) - 1.0, -1.0, 1.0), theta = std::acos(x);
        for (int p = 0; p < K; ++p) t.phi[static_cast<size_t>(((j % W) * K + p) * n_ + j)] = static_cast<float>(std::cos(p * theta));
      }
    }
    usable_ = true;
  }

  /// Whether the basis has the interleaved layout the tables assume (ContinuousBasis always does).
  bool usable() const { return usable_; }
  int64_t widths() const { return static_cast<int64_t>(widths_sq_.size()); }
  /// Index into kSmoothReadDegrees of the fewest terms that meet the tolerance for every density
  /// whose variance is at least least_sigma2; −1 when none does.
  int degree_for(double least_sigma2) const {
    if (!usable_ || !(least_sigma2 >= 0)) return -1;
    const double s = 2.0 * std::sqrt(least_sigma2 + least_width_sq_);
    for (size_t d = 0; d < kSmoothReadDegrees.size(); ++d)
      if (s >= degrees_[d].least_std) return static_cast<int>(d);
    return -1;
  }
  /// Terms W·K of degree index d, and of the largest degree.
  int64_t terms(int d) const { return widths() * kSmoothReadDegrees[static_cast<size_t>(d)]; }
  int64_t most_terms() const { return widths() * kSmoothReadDegrees.back(); }
  /// Φ of degree index d: [W·K, N] row-major.
  const float* phi(int d) const { return degrees_[static_cast<size_t>(d)].phi.data(); }
  /// a [m, W·K] (row-major) for m densities (μ, σ²): the Chebyshev coefficients of each width's
  /// Gaussian, g at the K nodes for all m densities at once, then the DCT as one small product.
  void coefficients(int d, const float* mu, const float* sigma2, int64_t m, float* a) const {
    using Array = Eigen::Array<float, 1, Eigen::Dynamic>;
    using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;
    const Degree& t = degrees_[static_cast<size_t>(d)];
    const int K = kSmoothReadDegrees[static_cast<size_t>(d)];
    const auto W = widths();
    const Eigen::Map<const Array> mus(mu, m), s2(sigma2, m);
    const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> dct(t.dct.data(), K, K);
    Eigen::Map<Matrix> coeffs(a, W * K, m);  // column i: the W·K coefficients of density i
    const Array x0 = 2.0f * mus - 1.0f;
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> g(K, m);  // rows contiguous: packets
    for (int64_t w = 0; w < W; ++w) {
      const Array v = s2 + static_cast<float>(widths_sq_[static_cast<size_t>(w)]);
      const Array inv_2s2 = 0.125f / v;                                      // s_x² = 4v
      const Array scale = static_cast<float>(kInvSqrt2Pi) * v.rsqrt();
      for (int k = 0; k < K; ++k)
        g.row(k) = (scale * (-(t.nodes[static_cast<size_t>(k)] - x0).square() * inv_2s2).exp()).matrix();
      coeffs.middleRows(w * K, K).noalias() = dct * g;
    }
  }

 private:
  /// smooth_read_least_std of every degree, computed once per process.
  static const std::array<double, kSmoothReadDegrees.size()>& least_stds() {
    static const auto stds = [] {
      std::array<double, kSmoothReadDegrees.size()> s{};
      for (size_t d = 0; d < s.size(); ++d) s[d] = smooth_read_least_std(kSmoothReadDegrees[d]);
      return s;
    }();
    return stds;
  }
  struct Degree {
    double least_std = INFINITY;
    std::vector<float> nodes, dct, phi;
  };
  int64_t n_ = 0;
  bool usable_ = false;
  double least_width_sq_ = 0;
  std::vector<double> widths_sq_;
  std::array<Degree, kSmoothReadDegrees.size()> degrees_;
};

}  // namespace mnemo::memory
