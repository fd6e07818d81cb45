// mnemo/core/rng.hpp — counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
//
// A draw is a pure function of (key, index): no generator state advances, so the CPU and the
// GPU produce the same stream, and an MRBP replay of segment t draws the very same dropout
// masks as its first pass simply by using the same key.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "mnemo/core/box_muller.hpp"
#include "mnemo/core/config.hpp"
#include "mnemo/core/error.hpp"

namespace mnemo {

/// Philox4x32 with 10 rounds: 128-bit counter, 64-bit key, 4 x 32 random bits per block.
struct Philox4x32 {
  using Block = std::array<uint32_t, 4>;

  MNEMO_DEVICE_INLINE static void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
    const uint64_t p = static_cast<uint64_t>(a) * b;
    hi = static_cast<uint32_t>(p >> 32);
    lo = static_cast<uint32_t>(p);
  }

  MNEMO_DEVICE_INLINE static void generate(uint32_t c[4], uint32_t k0, uint32_t k1) {
    constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
    constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
      uint32_t hi0, lo0, hi1, lo1;
      mulhilo(kM0, c[0], hi0, lo0);
      mulhilo(kM1, c[2], hi1, lo1);
      const uint32_t n0 = hi1 ^ c[1] ^ k0, n2 = hi0 ^ c[3] ^ k1;
      c[0] = n0;
      c[1] = lo1;
      c[2] = n2;
      c[3] = lo0;
      k0 += kW0;
      k1 += kW1;
    }
  }

  static Block block(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
    generate(counter.data(), key[0], key[1]);
    return counter;
  }
};

/// SplitMix64 finaliser: a bijective 64-bit mixer used to derive keys.
MNEMO_DEVICE_INLINE uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// FNV-1a hash of a name, for deriving keys from parameter names and draw sites.
inline uint64_t hash_name(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

/// 27 high bits of `high` and 26 of `low` as a double in [0, 1) (53 random bits).
/// = ((high >> 5) · 2²⁶ + (low >> 6)) · 2⁻⁵³, summed from two exact halves (an int32 → double
/// conversion vectorises on every x86; a 64-bit one needs AVX-512).
MNEMO_DEVICE_INLINE double uniform53(uint32_t high, uint32_t low) {
  return static_cast<double>(static_cast<int32_t>(high >> 5)) * 0x1p-27 +
         static_cast<double>(static_cast<int32_t>(low >> 6)) * 0x1p-53;
}

/// A random stream: every draw is element `index` of the stream named by (seed, stream).
/// `derive(tag)` names a sub-stream (a layer, a draw site, a segment step) deterministically.
struct RngKey {
  uint64_t seed = 0;
  uint64_t stream = 0;

  MNEMO_DEVICE_INLINE RngKey derive(uint64_t tag) const {
    return RngKey{seed, mix64(stream ^ mix64(tag + 0x632BE59BD9B4E019ull))};
  }
  RngKey derive(std::string_view name) const { return derive(hash_name(name)); }

  /// 4 x 32 random bits of block `block_index`.
  MNEMO_DEVICE_INLINE void block(uint64_t block_index, uint32_t out[4]) const {
    out[0] = static_cast<uint32_t>(block_index);
    out[1] = static_cast<uint32_t>(block_index >> 32);
    out[2] = static_cast<uint32_t>(stream);
    out[3] = static_cast<uint32_t>(stream >> 32);
    Philox4x32::generate(out, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  }

  /// 32 random bits for element `index` (word index % 4 of block index / 4).
  MNEMO_DEVICE_INLINE uint32_t bits(uint64_t index) const {
    uint32_t b[4];
    block(index >> 2, b);
    return b[index & 3u];
  }

  /// Uniform in [0, 1) with 24 random bits (exactly representable in float).
  MNEMO_DEVICE_INLINE float uniform(uint64_t index) const {
    return static_cast<float>(bits(index) >> 8) * (1.0f / 16777216.0f);
  }

  /// Uniform in [0, 1) with 53 random bits, from two consecutive words 2i, 2i+1.
  MNEMO_DEVICE_INLINE double uniform_double(uint64_t index) const {
    return uniform53(bits(2 * index), bits(2 * index + 1));
  }

  /// Standard normal draw: Box–Muller, sqrt(−2 ln u1) · cos(2π u2), on u1 = 1 − uniform_double(2i)
  /// and u2 = uniform_double(2i + 1), i.e. the four words of block i, generated once; ln and cos
  /// are mnemo's own (core/box_muller.hpp), not the C library's. To draw many, normals() is faster.
  double normal(uint64_t index) const {
    uint32_t w[4];
    block(index, w);
    return std::sqrt(detail::box_muller_radius_squared(uniform53(w[0], w[1]))) *
           detail::cos_turns(uniform53(w[2], w[3]));
  }

  /// Draws per pass of normals() (16 doubles: two AVX-512 vectors).
  static constexpr int64_t kNormalLanes = 16;

  /// out[j] = normal(first + j) for j in [0, count), bit for bit (box_muller.hpp: no step is
  /// left for the compiler to fuse differently in a vector loop), kNormalLanes draws a pass in
  /// loops without calls or branches, which the compiler vectorises. Throws ValueError on a
  /// negative count or a null `out` with count > 0 (nothing written).
  void normals(uint64_t first, int64_t count, double* out) const {
    require<ValueError>(count >= 0, "RngKey::normals: count ", count, ", expected >= 0");
    require<ValueError>(out != nullptr || count == 0, "RngKey::normals: out is null for ", count, " draws");
    for (int64_t done = 0; done < count; done += kNormalLanes) {
      uint32_t w[4][kNormalLanes];
      for (int64_t l = 0; l < kNormalLanes; ++l) {
        uint32_t b[4];
        block(first + static_cast<uint64_t>(done + l), b);
        for (int k = 0; k < 4; ++k) w[k][l] = b[k];
      }
      double radius_squared[kNormalLanes], cosine[kNormalLanes];
      for (int64_t l = 0; l < kNormalLanes; ++l) {
        radius_squared[l] = detail::box_muller_radius_squared(uniform53(w[0][l], w[1][l]));
        cosine[l] = detail::cos_turns(uniform53(w[2][l], w[3][l]));
      }
      // sqrt in a loop of its own: with errno semantics (the default) it is a branch, which would
      // keep the loop above from vectorising; here it is one instruction and a never-taken test.
      const int64_t lanes = std::min(kNormalLanes, count - done);
      for (int64_t l = 0; l < lanes; ++l) out[done + l] = std::sqrt(radius_squared[l]) * cosine[l];
    }
  }

  /// Dropout keep decision for element `index`: kept with probability 1 - p.
  MNEMO_DEVICE_INLINE bool keep(uint64_t index, float p) const { return uniform(index) >= p; }
};

}  // namespace mnemo
