// mnemo/memory/ridge_fit.hpp — the ∞-former's fit operators (infinite_former.md §3, §5.2).
//
// With the fit positions p_1..p_T (real positions plus zero-target pads) and F[j, m] = ψ_j(p_m):
//   A = F Fᵀ + λ I_N   (SPD),   G_full = Fᵀ A⁻¹   (T × N, a Cholesky solve A Z = F, G_full = Zᵀ)
// and the operator keeps the rows of the real positions. Coefficients of a signal X (rows =
// positions) are B = Gᵀ X, the minimiser of Σ_m ||y_m − Bᵀψ(p_m)||² + λ||B||²_F with y = X at the
// real positions and 0 at the pads. Everything is double precision, built once per configuration.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "mnemo/core/error.hpp"
#include "mnemo/memory/continuous_basis.hpp"
#include "mnemo/memory/position_convention.hpp"

namespace mnemo::memory {

/// The positions a fit is solved on: `real` positions starting at index `first_real`, pads around.
struct FitLattice {
  std::vector<double> positions;
  int64_t first_real = 0;
  int64_t real_count = 0;
};

/// Lattice of a first write of L vectors (§3.1, §3.2): P = ⌊L/2⌋ pads per side with the same
/// spacing 1/L when zero_pad, i.e. i/L (Paper) or (i − ½)/L (CellCentre) for i = −P+1 .. L+P.
inline FitLattice segment_lattice(int64_t length, PositionConvention convention, bool zero_pad) {
  require<ConfigError>(length >= 1, "segment_lattice: length = ", length, ", expected >= 1");
  const int64_t pads = zero_pad ? length / 2 : 0;
  const double shift = convention == PositionConvention::CellCentre ? 0.5 : 0.0;
  FitLattice lat;
  for (int64_t i = -pads + 1; i <= length + pads; ++i)
    lat.positions.push_back((static_cast<double>(i) - shift) / static_cast<double>(length));
  lat.first_real = pads;
  lat.real_count = length;
  return lat;
}

/// Lattice of a contraction (§5.2): M old samples at u_k = kτ/M (k = 1..M), L new vectors at
/// τ + (1 − τ)·i/L (i = 1..L), and, when zero_pad, the pads of the reference code: the points
/// of g = linspace(−½ + δ, 3/2 − δ, 2Q) below 0 and above 1, δ = 1/(2L + M) (the code's
/// quirk, kept), Q = M + L. The real rows are ordered old samples first, then new vectors.
inline FitLattice contraction_lattice(int64_t length, int64_t samples, double tau, bool zero_pad) {
  require<ConfigError>(length >= 1, "contraction_lattice: length = ", length, ", expected >= 1");
  require<ConfigError>(samples >= 1, "contraction_lattice: samples = ", samples, ", expected >= 1");
  require<ConfigError>(tau > 0 && tau < 1, "contraction_lattice: tau = ", tau, ", expected in (0, 1)");
  std::vector<double> real;
  for (int64_t k = 1; k <= samples; ++k)
    real.push_back(static_cast<double>(k) * tau / static_cast<double>(samples));
  for (int64_t i = 1; i <= length; ++i)
    real.push_back(tau + (1.0 - tau) * static_cast<double>(i) / static_cast<double>(length));
  FitLattice lat;
  std::vector<double> right;
  if (zero_pad) {
    const int64_t q2 = 2 * (samples + length);
    const double delta = 1.0 / static_cast<double>(2 * length + samples);
    const double start = -0.5 + delta, stop = 1.5 - delta;
    const double step = (stop - start) / static_cast<double>(q2 - 1);
    for (int64_t i = 0; i < q2; ++i) {
      const double g = start + step * static_cast<double>(i);
      if (g < 0) lat.positions.push_back(g);
      else if (g > 1) right.push_back(g);
    }
  }
  lat.first_real = static_cast<int64_t>(lat.positions.size());  // crop by the actual left-pad count
  lat.real_count = static_cast<int64_t>(real.size());
  lat.positions.insert(lat.positions.end(), real.begin(), real.end());
  lat.positions.insert(lat.positions.end(), right.begin(), right.end());
  return lat;
}

/// Rows [first, first + count) of G_full = Fᵀ (F Fᵀ + λI)⁻¹ over the lattice `positions`
/// (count × N), by a Cholesky solve in double: A Z = F[:, first .. first+count), G = Zᵀ. Only the
/// kept columns are solved for.
inline HostMatrix ridge_operator_rows(const ContinuousBasis& basis, const std::vector<double>& positions,
                                      double lambda, int64_t first, int64_t count) {
  require<ConfigError>(std::isfinite(lambda) && lambda > 0, "ridge_operator: lambda = ", lambda,
                       ", expected a finite penalty > 0");
  require<ShapeError>(first >= 0 && count >= 0 && first + count <= static_cast<int64_t>(positions.size()),
                      "ridge_operator: rows [", first, ", ", first + count, ") out of range for ",
                      positions.size(), " positions");
  const HostMatrix psi = basis.evaluate(positions);  // T × N = Fᵀ
  const auto n = static_cast<Eigen::Index>(basis.size());
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(n, n);
  A.selfadjointView<Eigen::Lower>().rankUpdate(psi.transpose());  // F Fᵀ
  A.diagonal().array() += lambda;
  const Eigen::LLT<Eigen::MatrixXd> chol(A);
  require<ValueError>(chol.info() == Eigen::Success,
                      "ridge_operator: F Fᵀ + λI is not positive definite (lambda = ", lambda, ")");
  const Eigen::MatrixXd rhs =
      psi.middleRows(static_cast<Eigen::Index>(first), static_cast<Eigen::Index>(count)).transpose();
  return chol.solve(rhs).transpose();  // count × N
}

/// G_full = Fᵀ (F Fᵀ + λI)⁻¹ over every lattice position (T × N).
inline HostMatrix ridge_operator(const ContinuousBasis& basis, const std::vector<double>& positions,
                                 double lambda) {
  return ridge_operator_rows(basis, positions, lambda, 0, static_cast<int64_t>(positions.size()));
}

/// The rows of the lattice's real positions of its ridge operator.
inline HostMatrix lattice_operator(const ContinuousBasis& basis, const FitLattice& lattice, double lambda) {
  return ridge_operator_rows(basis, lattice.positions, lambda, lattice.first_real, lattice.real_count);
}

/// G_L (L × N): B = G_Lᵀ X fits the L vectors of a first write (§3.3).
inline HostMatrix fit_operator(const ContinuousBasis& basis, int64_t length, double lambda,
                               PositionConvention convention, bool zero_pad) {
  return lattice_operator(basis, segment_lattice(length, convention, zero_pad), lambda);
}

/// G_inf ((M + L) × N): B = G_infᵀ [X_past ; X̃] refits M old samples squeezed into [0, τ] and
/// L new vectors in [τ, 1] (§5.2). Rows 0..M−1 belong to the old samples, M..M+L−1 to the new.
inline HostMatrix contraction_operator(const ContinuousBasis& basis, int64_t length, int64_t samples,
                                       double tau, double lambda, bool zero_pad) {
  return lattice_operator(basis, contraction_lattice(length, samples, tau, zero_pad), lambda);
}

/// The fixed sample positions s_k = k/M (k = 1..M) of a contraction without sticky memories.
inline std::vector<double> uniform_sample_positions(int64_t samples) {
  std::vector<double> s;
  for (int64_t k = 1; k <= samples; ++k) s.push_back(static_cast<double>(k) / static_cast<double>(samples));
  return s;
}

}  // namespace mnemo::memory
