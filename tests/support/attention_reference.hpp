// tests/support/attention_reference.hpp — masked multi-head attention in double, the reference the
// CPU attention kernels are held to (memformer.md §2.2 with SoftmaxMask's rules):
//   O⁽ʰ⁾[r] = Σ_k p_k V⁽ʰ⁾[k],  p = softmax over the visible keys of scale·Q⁽ʰ⁾[r]·K⁽ʰ⁾[k] − slope_h·(r + offset − k)
// key k visible to query r unless causal and k > r + offset, or padding[batch row·lk + k]; a query
// with no visible key gets zeros.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "mnemo/backend/primitives.hpp"

namespace mnemo::test {

/// A SoftmaxMask with these fields (padding and slopes may be null).
inline SoftmaxMask softmax_mask(bool causal, int64_t query_offset, const uint8_t* key_padding,
                                const float* alibi_slopes) {
  SoftmaxMask mask;
  mask.causal = causal;
  mask.query_offset = query_offset;
  mask.key_padding = key_padding;
  mask.alibi_slopes = alibi_slopes;
  return mask;
}

/// q [batch, lq, ld], k and v [batch, lk, ld] (head h at columns h·dh), read as double, dims =
/// {batch, heads, lq, lk}; returns O as [batch, lq, heads·dh].
template <class T>
std::vector<double> reference_attention_forward(const T* q, const T* k, const T* v, int64_t ld, const SoftmaxDims& dims,
                                                int64_t dh, double scale, const SoftmaxMask& mask) {
  const int64_t batch = dims.outer, heads = dims.heads, lq = dims.rows, lk = dims.cols, offset = mask.query_offset;
  const bool causal = mask.causal;
  const uint8_t* padding = mask.key_padding;
  const float* slopes = mask.alibi_slopes;
  const int64_t d = heads * dh;
  std::vector<double> out(static_cast<size_t>(batch * lq * d), 0.0);
  std::vector<double> logit(static_cast<size_t>(lk));
  for (int64_t o = 0; o < batch; ++o)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t r = 0; r < lq; ++r) {
        double mx = -INFINITY;
        for (int64_t c = 0; c < lk; ++c) {
          logit[size_t(c)] = -INFINITY;
          if ((causal && c > r + offset) || (padding && padding[o * lk + c])) continue;
          double s = 0;
          for (int64_t e = 0; e < dh; ++e)
            s += double(q[(o * lq + r) * ld + h * dh + e]) * double(k[(o * lk + c) * ld + h * dh + e]);
          s *= scale;
          if (slopes) s -= double(slopes[h]) * double(r + offset - c);
          logit[size_t(c)] = s;
          mx = std::max(mx, s);
        }
        if (mx == -INFINITY) continue;  // no visible key: zeros
        double z = 0;
        for (double l : logit) z += std::exp(l - mx);
        for (int64_t c = 0; c < lk; ++c) {
          const double p = std::exp(logit[size_t(c)] - mx) / z;
          for (int64_t e = 0; e < dh; ++e)
            out[size_t((o * lq + r) * d + h * dh + e)] += p * double(v[(o * lk + c) * ld + h * dh + e]);
        }
      }
  return out;
}

}  // namespace mnemo::test
