// mnemo/memory/operator_bands.hpp — the ∞-former memory's constant operators (continuous_operators.hpp)
// as a float-compute memory applies them: in blocks of output rows, each dense over a core of inner
// columns, with the decaying tails on either side held as low-rank products and everything beyond
// them left out.
//
// The operators are local: a basis function takes its weight from the positions near its centre,
// and the weights of the ridge fit decay geometrically away from it (about tenfold per 32 columns
// in the LM preset). What a band leaves out of each row sums, in magnitude, to far below float
// rounding; the tails, smooth and small, have low numerical rank (beyond a core of the columns
// above 1 % of the largest entry, a 64-row tail a few hundred columns wide has rank 2 to 5 at that
// tolerance in the LM preset at N 512, L 512), so U·Vᵀ replaces most of the dense work:
//   y_rows = A_core · x[core] + U · (Vᵀ_left · x[left tail] ; Vᵀ_right · x[right tail])
// A double memory (floor 0) keeps one dense band of the whole operator: exact products.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <Eigen/Core>

#include "mnemo/memory/continuous_basis.hpp"  // HostMatrix

namespace mnemo::memory {

/// What a float-compute memory's operator may change in each output row: the entries left out and
/// the tails' low-rank error together sum in magnitude to at most this fraction (2⁻³⁰ ≈ 9·10⁻¹⁰) of
/// the operator's largest magnitude, i.e. far below the float rounding (2⁻²⁴) of the row's largest
/// term. A quarter of it per side for what is left out, a quarter per side for the tail's error.
inline constexpr double kOperatorBandFloor = 9.313225746154785e-10;
/// The dense core of a band: the columns outside it hold at most this fraction of the largest
/// magnitude per row and side (what is beyond goes to the low-rank tails).
inline constexpr double kOperatorCoreFloor = 1e-2;
/// Output rows per band.
inline constexpr int64_t kOperatorBandRows = 64;

/// Output rows [row_begin, row_end) of an operator [outputs, inner]: dense over the inner columns
/// [k_begin, k_end); over [left_begin, k_begin) and [k_end, right_end) the products U·Vᵀ of
/// left_rank and right_rank terms (rank 0: that tail is empty); zero elsewhere.
struct OperatorBand {
  int64_t row_begin = 0, row_end = 0, k_begin = 0, k_end = 0;
  int64_t left_begin = 0, right_end = 0, left_rank = 0, right_rank = 0;
  /// Offset of this band's factors in the operator's factor array: U [rows, left_rank + right_rank]
  /// (row-major), then Vᵀ of the left tail [left_rank, k_begin − left_begin], then Vᵀ of the right
  /// tail [right_rank, right_end − k_end].
  int64_t factors = 0;

  int64_t rows() const { return row_end - row_begin; }
  int64_t tail_rank() const { return left_rank + right_rank; }
  int64_t left_width() const { return k_begin - left_begin; }
  int64_t right_width() const { return right_end - k_end; }
};

/// An operator's bands and their tails' factors (in double; the memory casts them to its type).
struct BandedOperator {
  std::vector<OperatorBand> bands;
  std::vector<double> factors;
};

/// The inner columns [lo, hi) of op's rows [r0, r1) outside which every row's entries sum in
/// magnitude to at most budget on each side, rounded out to multiples of 16 ({0, 0}: none).
inline std::pair<int64_t, int64_t> band_kept_columns(const HostMatrix& op, int64_t r0, int64_t r1, double budget) {
  const int64_t inner = op.cols();
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
  if (lo >= hi) return {0, 0};
  return {lo / 16 * 16, std::min(inner, (hi + 15) / 16 * 16)};
}

/// Low-rank form of a tail block A [rows, width]: U = Q [rows, rank] with orthonormal columns picked
/// by Gram–Schmidt with column pivoting (each step takes the residual's largest column, projected
/// out twice), Vᵀ = Qᵀ A; the fewest columns whose residual A − Q Qᵀ A changes each row by at most
/// budget in magnitude sum (√width · its Frobenius norm bounds it). Plain loops, not an Eigen
/// decomposition: this header is parsed by every ∞-former translation unit (an SVD here tripled
/// their compile time). Returns the rank, or −1 when the factors would cost as much as A.
inline int64_t band_tail_factors(const HostMatrix& tail, double budget, HostMatrix& u, HostMatrix& vt) {
  const int64_t rows = tail.rows(), width = tail.cols();
  if (rows == 0 || width == 0) return 0;
  HostMatrix residual = tail;
  std::vector<std::vector<double>> q;  // the columns of Q
  const double limit = budget / std::sqrt(static_cast<double>(width));
  while (true) {
    double frobenius = 0, best = -1;
    int64_t pick = 0;
    for (int64_t j = 0; j < width; ++j) {
      const double norm = residual.col(j).squaredNorm();
      frobenius += norm;
      if (norm > best) best = norm, pick = j;
    }
    if (std::sqrt(frobenius) <= limit) break;
    const auto rank = static_cast<int64_t>(q.size()) + 1;
    if (rank * (rows + width) >= rows * width || best <= 0) return -1;
    std::vector<double> next(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) next[static_cast<size_t>(i)] = residual(i, pick);
    for (int pass = 0; pass < 2; ++pass)  // orthogonal to the columns so far, to rounding
      for (const auto& prev : q) {
        double dot = 0;
        for (int64_t i = 0; i < rows; ++i) dot += prev[static_cast<size_t>(i)] * next[static_cast<size_t>(i)];
        for (int64_t i = 0; i < rows; ++i) next[static_cast<size_t>(i)] -= dot * prev[static_cast<size_t>(i)];
      }
    double norm = 0;
    for (double x : next) norm += x * x;
    norm = std::sqrt(norm);
    if (!(norm > 0)) return -1;
    for (double& x : next) x /= norm;
    for (int64_t j = 0; j < width; ++j) {  // residual −= q (qᵀ residual)
      double dot = 0;
      for (int64_t i = 0; i < rows; ++i) dot += next[static_cast<size_t>(i)] * residual(i, j);
      for (int64_t i = 0; i < rows; ++i) residual(i, j) -= dot * next[static_cast<size_t>(i)];
    }
    q.push_back(std::move(next));
  }
  const auto rank = static_cast<int64_t>(q.size());
  u.resize(rows, rank);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < rank; ++k) u(i, k) = q[static_cast<size_t>(k)][static_cast<size_t>(i)];
  vt = u.transpose() * tail;  // Qᵀ A from the block itself
  return rank;
}

/// op [outputs, inner] as bands of kOperatorBandRows rows (see above); floor = 0 gives one dense
/// band of the whole operator (exact products: the double memory).
inline BandedOperator band_operator(const HostMatrix& op, double floor) {
  BandedOperator out;
  const int64_t rows = op.rows(), inner = op.cols();
  if (floor <= 0 || rows == 0 || inner == 0) {
    out.bands.push_back(OperatorBand{0, rows, 0, inner, 0, inner});
    return out;
  }
  const double largest = op.cwiseAbs().maxCoeff();
  const double side_budget = 0.25 * floor * largest;
  for (int64_t r0 = 0; r0 < rows; r0 += kOperatorBandRows) {
    const int64_t r1 = std::min(rows, r0 + kOperatorBandRows), h = r1 - r0;
    OperatorBand band{r0, r1};
    const auto [lo, hi] = band_kept_columns(op, r0, r1, side_budget);
    if (lo >= hi) {  // rows below the floor throughout: zero
      out.bands.push_back(band);
      continue;
    }
    auto [c0, c1] = band_kept_columns(op, r0, r1, 0.5 * kOperatorCoreFloor * largest);
    c0 = std::clamp(c0, lo, hi);
    c1 = std::clamp(c1, c0, hi);
    HostMatrix ul, vl, ur, vr;
    int64_t left = band_tail_factors(op.block(r0, lo, h, c0 - lo), side_budget, ul, vl);
    int64_t right = band_tail_factors(op.block(r0, c1, h, hi - c1), side_budget, ur, vr);
    if (left < 0) c0 = lo, left = 0;  // not worth factoring: dense
    if (right < 0) c1 = hi, right = 0;
    band.k_begin = c0;
    band.k_end = c1;
    band.left_begin = left > 0 ? lo : c0;
    band.right_end = right > 0 ? hi : c1;
    band.left_rank = left;
    band.right_rank = right;
    band.factors = static_cast<int64_t>(out.factors.size());
    for (int64_t i = 0; i < h; ++i) {  // U = [U_left | U_right], row-major
      for (int64_t j = 0; j < left; ++j) out.factors.push_back(ul(i, j));
      for (int64_t j = 0; j < right; ++j) out.factors.push_back(ur(i, j));
    }
    for (const HostMatrix* vt : {&vl, &vr})
      for (Eigen::Index i = 0; i < vt->rows(); ++i)
        for (Eigen::Index j = 0; j < vt->cols(); ++j) out.factors.push_back((*vt)(i, j));
    out.bands.push_back(band);
  }
  return out;
}

}  // namespace mnemo::memory
