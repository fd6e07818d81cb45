// mnemo/core/box_muller.hpp — the logarithm and cosine of RngKey::normal's Box–Muller transform,
//   g = sqrt(-2 ln u1) · cos(2π u2),   u1 in (0, 1], u2 in [0, 1),
// written out in plain double arithmetic rather than taken from the C library, for two reasons:
//   * the stream is mnemo's own: it no longer changes with the platform's libm;
//   * the code has no calls and no branches, so a loop over many draws vectorises (parameter
//     initialisation draws millions; libm's scalar log and cos were 60 % of building a model).
// Accuracy (tests/cpu/test_core.cpp, against long double): ln within 1 ulp, cos within 2·2⁻⁵³.
//
// Same bits in a scalar call and in a vectorised loop: a compiler may fuse a·b + c into one FMA
// (one rounding) or not, and decides per loop. So every product that feeds a sum here is written
// as mul_add: an explicit FMA where the target has one, two roundings where it has none (where
// no FMA can be formed either); the products left bare are exact, or feed only a multiplication,
// a square root or an operand of mul_add, which no instruction fuses.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace mnemo::detail {

/// a·b + c: one rounding (fused) on targets with FMA, two on the others.
inline double mul_add(double a, double b, double c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

/// The polynomial c0·x^n + c1·x^(n−1) + … + cn by Horner's rule (unrolled at compile time).
template <class... Coefficients>
inline double horner(double x, double leading, Coefficients... rest) {
  double p = leading;
  ((p = mul_add(p, x, rest)), ...);
  return p;
}

/// ln u for u in (0, 1] (a normal double: the draws are multiples of 2⁻⁵³).
/// u = 2^e · m with m in [√½, √2); with f = m − 1 and s = f / (2 + f),
///   ln m = 2 atanh(s) = f − hfsq + s (hfsq + R),  hfsq = f²/2,  R = 2 Σ_{k=1..10} s^{2k} / (2k+1),
/// (the identity 2s = f − s f), |s| ≤ 0.1716, so the series' first omitted term is below 2⁻⁵⁸ of ln m.
inline double log_unit(double u) {
  constexpr uint64_t kSqrtHalfBits = 0x3fe6a09e667f3bcdull;  // √½
  // Shift the exponent so that m lands in [√½, √2); exponent and mantissa are then read apart.
  const uint64_t shifted = std::bit_cast<uint64_t>(u) + (0x3ff0000000000000ull - kSqrtHalfBits);
  // e as a double without an int64 → double conversion (none in AVX2): 2⁵² + (biased e) − 2⁵² − 1023.
  const double e = std::bit_cast<double>((shifted >> 52) | 0x4330000000000000ull) - (0x1p52 + 1023.0);
  const double m = std::bit_cast<double>((shifted & 0x000fffffffffffffull) + kSqrtHalfBits);
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  // Σ_{k=1..10} z^{k−1} / (2k+1)
  const double p = horner(z, 1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11, 1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3);
  // Each product that meets a sum meets it inside mul_add (hfsq only as an addend).
  const double half_f = 0.5 * f;  // exact
  const double hfsq = half_f * f;
  const double hfsq_plus_r = mul_add(2.0 * z, p, hfsq);
  // ln 2 in two parts; the high one has 32 trailing zero bits, so e · kLn2High is exact.
  constexpr double kLn2High = 6.93147180369123816490e-01, kLn2Low = 1.90821492927058770002e-10;
  const double correction = mul_add(s, hfsq_plus_r, e * kLn2Low);  // s (hfsq + R) + e ln2_low
  const double hfsq_minus_correction = mul_add(half_f, f, -correction);
  return mul_add(e, kLn2High, f - hfsq_minus_correction);  // e ln2 + f − hfsq + s (hfsq + R)
}

/// −2 ln(1 − u) for u in [0, 1): the square of Box–Muller's radius (at most 2 · 53 ln 2 ≈ 73.5).
inline double box_muller_radius_squared(double u) { return -2.0 * log_unit(1.0 - u); }

/// cos(2π u) for u in [0, 1) (u in turns, so the reduction is exact): u = q/4 + r with q the
/// nearest quarter turn and |r| ≤ 1/8; with a = 2π r (|a| ≤ π/4),
///   cos(2π u) = cos a, −sin a, −cos a, sin a   for q mod 4 = 0, 1, 2, 3,
/// cos a and sin a by their Taylor series to a¹⁶ and a¹⁷ (first omitted terms below 2⁻⁵⁸).
inline double cos_turns(double u) {
  constexpr double kRound = 0x1.8p52;  // adding it rounds 4u to an integer, left in the low bits
  const double shifted = 4.0 * u + kRound;
  const uint64_t quarter = std::bit_cast<uint64_t>(shifted) & 3u;
  const double r = mul_add(-0.25, shifted - kRound, u);  // exact (Sterbenz: q/8 ≤ u ≤ q/2 for q ≥ 1)
  const double a = 6.283185307179586476925 * r;
  const double z = a * a;
  // cos a = 1 − z (1/2! − z/4! + … + z⁷/16!),  sin a = a − a z (1/3! − z/5! + … + z⁷/17!)
  const double c = mul_add(-z, horner(-z, 1.0 / 20922789888000.0, 1.0 / 87178291200.0, 1.0 / 479001600.0,
                                      1.0 / 3628800.0, 1.0 / 40320.0, 1.0 / 720.0, 1.0 / 24.0, 0.5), 1.0);
  const double s = mul_add(-a, z * horner(-z, 1.0 / 355687428096000.0, 1.0 / 1307674368000.0, 1.0 / 6227020800.0,
                                          1.0 / 39916800.0, 1.0 / 362880.0, 1.0 / 5040.0, 1.0 / 120.0, 1.0 / 6.0),
                           a);
  // Pick sin on odd quarters and negate on quarters 1 and 2, bitwise: no branch in a draw loop.
  const uint64_t pick_sin = 0 - (quarter & 1u);
  const uint64_t negate = ((quarter + 1u) & 2u) << 62;
  const uint64_t bits = (std::bit_cast<uint64_t>(s) & pick_sin) | (std::bit_cast<uint64_t>(c) & ~pick_sin);
  return std::bit_cast<double>(bits ^ negate);
}

}  // namespace mnemo::detail
