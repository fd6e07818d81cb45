// mnemo/backend/cpu/gaussian_expectation.hpp — the ∞-former's continuous-attention kernel
// (infinite_former.md §6, §7): the expectation of every Gaussian basis function under a query's
// density N(μ, σ²), which is again a Gaussian density,
//   r[i, j] = ∫ N(t; μ_i, σ²_i) ψ_j(t) dt = N(μ_i; c_j, v_ij) = exp(−Δ²/(2v)) / sqrt(2π v),
//   Δ = μ_i − c_j,  v = σ²_i + s²_j            (c_j, s_j: centre and width of basis function j)
// and its backward from dr to (dμ, dσ²):
//   ∂r/∂μ = −r Δ / v,   ∂r/∂σ² = r (Δ²/v² − 1/v) / 2,   dμ_i = Σ_j dr_ij ∂r_ij/∂μ_i, ...
// Each entry is the formula shared with the CUDA backend (backend/gaussian_expectation_rule.hpp),
// computed in compute_t<T> (≥ fp32), one query per loop iteration: deterministic, no atomics.
// The backward recomputes r instead of reading it back (cheaper than a stored half-precision r
// and more accurate).
//
// Float compute (float and bfloat16 elements) runs each query's row in blocks of basis functions
// on Eigen's vectorised exp (within ~1.5 ulp of std::exp; the same operations in the same order
// otherwise; the backward's two sums are vector reductions): with the C library's scalar expf
// this kernel was a third of the ∞-former's LTM read + update. Double keeps the scalar formula.
// The ∞-former's basis interleaves W widths (memory/continuous_basis.hpp; W = 2 in the presets),
// so the squared widths repeat with period W: where that period divides 16, 1/v and its square
// root are the same in every 16-lane register of a query's row and are computed once per query
// (the same values: a division and a square root per entry fewer, the same bits out).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "mnemo/core/config.hpp"
#if MNEMO_COMPILED_BODIES  // a user TU of the compiled mode only declares the kernels (see the end)
#include <Eigen/Core>
#endif

#include "mnemo/backend/cpu/parallel.hpp"
#include "mnemo/backend/gaussian_expectation_rule.hpp"
#include "mnemo/core/precision.hpp"

namespace mnemo::cpu {

/// r [n, basis] from mu, sigma2 [n] and the basis centres, squared widths [basis] (the definition
/// follows, or, in a user TU of the compiled mode, is in mnemo::compiled for float, double and
/// bfloat16).
template <class T>
void gaussian_expectation_forward(const compute_t<T>* mu, const compute_t<T>* sigma2,
                                  const compute_t<T>* centres, const compute_t<T>* widths_sq, T* r,
                                  int64_t n, int64_t basis);

/// dmu, dsigma2 [n] (written, not accumulated) from dr [n, basis].
template <class T>
void gaussian_expectation_backward(const compute_t<T>* mu, const compute_t<T>* sigma2,
                                   const compute_t<T>* centres, const compute_t<T>* widths_sq,
                                   const T* dr, compute_t<T>* dmu, compute_t<T>* dsigma2, int64_t n,
                                   int64_t basis);

#if MNEMO_COMPILED_BODIES
namespace detail {
/// Basis functions per vectorised block (stack scratch of a few KiB, no allocation).
inline constexpr int64_t kExpectationBlock = 256;
using FloatBlock = Eigen::Array<float, Eigen::Dynamic, 1>;
using FloatBlockMap = Eigen::Map<FloatBlock>;
using ConstFloatBlockMap = Eigen::Map<const FloatBlock>;

/// One AVX-512 register of floats, loaded and stored unaligned.
inline constexpr int64_t kLanes = 16;
using FloatLanes = Eigen::Array<float, kLanes, 1>;
using FloatLanesMap = Eigen::Map<FloatLanes>;
using ConstFloatLanesMap = Eigen::Map<const FloatLanes>;

/// Whether widths_sq[j] == widths_sq[j mod P] for every j < basis, for some P dividing kLanes
/// (then every register of kLanes basis functions starting at a multiple of kLanes holds the
/// squared widths widths_sq[0:kLanes]); false below kLanes functions.
inline bool widths_repeat_per_register(const float* widths_sq, int64_t basis) {
  if (basis < kLanes) return false;
  for (int64_t period = 1; period <= kLanes; period *= 2) {
    int64_t j = period;
    while (j < basis && widths_sq[j] == widths_sq[j % period]) ++j;
    if (j == basis) return true;
  }
  return false;
}

/// One query's 1/v = 1/(σ² + s²_j) and sqrt(1/v) over a register of basis functions whose squared
/// widths repeat per register (widths_repeat_per_register).
struct RegisterInverses {
  FloatLanes inv_v, sqrt_inv_v;
  RegisterInverses(float sigma2, const float* widths_sq)
      : inv_v((ConstFloatLanesMap(widths_sq) + sigma2).inverse()), sqrt_inv_v(inv_v.sqrt()) {}

  /// One query's inverses where the widths repeat per register (`repeats`), none otherwise.
  static std::optional<RegisterInverses> for_query(bool repeats, float sigma2, const float* widths_sq) {
    return repeats ? std::optional<RegisterInverses>(std::in_place, sigma2, widths_sq) : std::nullopt;
  }
};

/// inv_v[0:w] = 1/(σ² + s²_j) and out[0:w] = r_j for basis functions j0..j0+w−1 of one query
/// (j0 a multiple of kLanes). Whole registers at a time whatever the alignment of out (a
/// dynamic-size Eigen expression peels up to 15 entries at each end of an unaligned block onto
/// the C library's scalar expf, which had made those entries half of this kernel's time), on
/// `repeated`'s inverses where given; the last w mod 16 entries, if any, on the dynamic-size
/// expression.
inline void expectation_block(float mu, float sigma2, const float* centres, const float* widths_sq, int64_t w,
                              float* inv_v, float* out, const RegisterInverses* repeated) {
  const int64_t whole = w / kLanes * kLanes;
  for (int64_t j = 0; j < whole; j += kLanes) {
    const FloatLanes d = mu - ConstFloatLanesMap(centres + j);
    if (repeated) {
      FloatLanesMap(inv_v + j) = repeated->inv_v;
      FloatLanesMap(out + j) = (-0.5f * d * d * repeated->inv_v).exp() * 0.39894228040143267794f * repeated->sqrt_inv_v;
    } else {
      FloatLanesMap iv(inv_v + j);
      iv = (ConstFloatLanesMap(widths_sq + j) + sigma2).inverse();
      FloatLanesMap(out + j) = (-0.5f * d * d * iv).exp() * 0.39894228040143267794f * iv.sqrt();
    }
  }
  if (whole < w) {
    const int64_t t = w - whole;
    FloatBlockMap iv(inv_v + whole, t);
    iv = (ConstFloatBlockMap(widths_sq + whole, t) + sigma2).inverse();
    const auto d = mu - ConstFloatBlockMap(centres + whole, t);
    FloatBlockMap(out + whole, t) = (-0.5f * d * d * iv).exp() * 0.39894228040143267794f * iv.sqrt();
  }
}
}  // namespace detail

template <class T>
void gaussian_expectation_forward(const compute_t<T>* mu, const compute_t<T>* sigma2,
                                  const compute_t<T>* centres, const compute_t<T>* widths_sq, T* r,
                                  int64_t n, int64_t basis) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<C, float>) {
    const bool repeats = detail::widths_repeat_per_register(widths_sq, basis);
    parallel_for(n, 6 * basis, [&](int64_t begin, int64_t end) {
      alignas(64) float inv_v[detail::kExpectationBlock], block[detail::kExpectationBlock];
      for (int64_t i = begin; i < end; ++i) {
        const auto repeated = detail::RegisterInverses::for_query(repeats, sigma2[i], widths_sq);
        for (int64_t j0 = 0; j0 < basis; j0 += detail::kExpectationBlock) {
          const int64_t w = std::min(detail::kExpectationBlock, basis - j0);
          T* out = r + i * basis + j0;
          float* dst = block;
          if constexpr (std::is_same_v<T, float>) dst = out;
          detail::expectation_block(mu[i], sigma2[i], centres + j0, widths_sq + j0, w, inv_v, dst,
                                    repeated ? &*repeated : nullptr);
          if constexpr (!std::is_same_v<T, float>)
            for (int64_t j = 0; j < w; ++j) out[j] = static_cast<T>(block[j]);
        }
      }
    });
  } else {
    parallel_for(n, 24 * basis, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        T* ri = r + i * basis;
        for (int64_t j = 0; j < basis; ++j)
          ri[j] = static_cast<T>(gaussian_expectation_entry(mu[i], sigma2[i], centres[j], widths_sq[j]));
      }
    });
  }
}

template <class T>
void gaussian_expectation_backward(const compute_t<T>* mu, const compute_t<T>* sigma2,
                                   const compute_t<T>* centres, const compute_t<T>* widths_sq,
                                   const T* dr, compute_t<T>* dmu, compute_t<T>* dsigma2, int64_t n,
                                   int64_t basis) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<C, float>) {
    const bool repeats = detail::widths_repeat_per_register(widths_sq, basis);
    parallel_for(n, 8 * basis, [&](int64_t begin, int64_t end) {
      alignas(64) float inv_v[detail::kExpectationBlock], g[detail::kExpectationBlock];
      for (int64_t i = begin; i < end; ++i) {
        const auto repeated = detail::RegisterInverses::for_query(repeats, sigma2[i], widths_sq);
        float gm = 0, gs = 0;
        for (int64_t j0 = 0; j0 < basis; j0 += detail::kExpectationBlock) {
          const int64_t w = std::min(detail::kExpectationBlock, basis - j0);
          detail::expectation_block(mu[i], sigma2[i], centres + j0, widths_sq + j0, w, inv_v, g,
                                    repeated ? &*repeated : nullptr);
          detail::FloatBlockMap gv(g, w);
          const T* dri = dr + i * basis + j0;
          if constexpr (std::is_same_v<T, float>) gv *= detail::ConstFloatBlockMap(dri, w);
          else
            for (int64_t j = 0; j < w; ++j) g[j] *= static_cast<float>(dri[j]);
          // g = dr·r:  dμ −= g Δ/v,  dσ² += g (Δ²/v − 1)/(2v)
          const detail::ConstFloatBlockMap iv(inv_v, w);
          const auto d = mu[i] - detail::ConstFloatBlockMap(centres + j0, w);
          gm -= (gv * d * iv).sum();
          gs += (gv * 0.5f * (d * d * iv - 1.0f) * iv).sum();
        }
        dmu[i] = gm;
        dsigma2[i] = gs;
      }
    });
  } else {
    parallel_for(n, 30 * basis, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const T* dri = dr + i * basis;
        C gm = 0, gs = 0;
        for (int64_t j = 0; j < basis; ++j)
          gaussian_expectation_entry_backward(mu[i], sigma2[i], centres[j], widths_sq[j], static_cast<C>(dri[j]), gm, gs);
        dmu[i] = gm;
        dsigma2[i] = gs;
      }
    });
  }
}
#endif  // MNEMO_COMPILED_BODIES

}  // namespace mnemo::cpu

// Compiled mode (docs/compile_time.md): compiled once, in src/compiled/infinite_former_*.cpp.
#if defined(MNEMO_COMPILED)
namespace mnemo::cpu {
extern template void gaussian_expectation_forward<float>(const float*, const float*, const float*, const float*, float*,
                                                         int64_t, int64_t);
extern template void gaussian_expectation_forward<double>(const double*, const double*, const double*, const double*,
                                                          double*, int64_t, int64_t);
extern template void gaussian_expectation_backward<float>(const float*, const float*, const float*, const float*,
                                                          const float*, float*, float*, int64_t, int64_t);
extern template void gaussian_expectation_backward<double>(const double*, const double*, const double*, const double*,
                                                           const double*, double*, double*, int64_t, int64_t);
}  // namespace mnemo::cpu
#endif  // MNEMO_COMPILED
