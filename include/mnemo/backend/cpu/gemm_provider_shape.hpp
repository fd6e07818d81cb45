// mnemo/backend/cpu/gemm_provider_shape.hpp — what a BLAS-style GEMM provider accepts: 32-bit
// sizes and, for row-major storage, row strides at least the stored row length (CBLAS's rules).
// The providers (gemm_openblas.hpp, gemm_blis.hpp, gemm_onednn.hpp) decline other products,
// which then run on Eigen's kernel (gemm.hpp).
#pragma once

#include <cstdint>
#include <limits>

#include "mnemo/backend/primitives.hpp"

namespace mnemo::cpu::provider {

/// True when a row-major product C (m×n, row stride ldc) = op(A)·op(B), op(A) m×k and op(B)
/// k×n, has sizes and row strides that a CBLAS-style interface with `int` sizes accepts.
inline bool blas_accepts(Trans ta, Trans tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                         int64_t ldc) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  const int64_t cols_a = ta == Trans::N ? k : m, cols_b = tb == Trans::N ? n : k;
  const int64_t rows_a = ta == Trans::N ? m : k, rows_b = tb == Trans::N ? k : n;
  const bool sizes_fit = m > 0 && n > 0 && k > 0 && m <= kMax && n <= kMax && k <= kMax;
  const bool strides_fit = lda <= kMax && ldb <= kMax && ldc <= kMax;
  // A row stride only matters when there is a second row.
  const bool rows_apart = (rows_a == 1 || lda >= cols_a) && (rows_b == 1 || ldb >= cols_b) && (m == 1 || ldc >= n);
  return sizes_fit && strides_fit && rows_apart && lda >= 1 && ldb >= 1 && ldc >= 1;
}

}  // namespace mnemo::cpu::provider
