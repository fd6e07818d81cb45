// The 6 x 64 AVX-512 register-block kernel both r.V harnesses time: C[m x 64] = A[m x k] * B[k x 64] (B packed, rows 64 floats).
#pragma once
#include <immintrin.h>
#include <cstdint>
template <int R>
__attribute__((target("avx512f"))) static inline void block(const float* A, int64_t lda, const float* B, int64_t k, float* C, int64_t ldc) {
  __m512 acc[R][4];
  for (int r = 0; r < R; ++r) for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    const float* b = B + p * 64;
    const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16), b2 = _mm512_loadu_ps(b + 32), b3 = _mm512_loadu_ps(b + 48);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(A[r * lda + p]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]); acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]); acc[r][3] = _mm512_fmadd_ps(a, b3, acc[r][3]);
    }
  }
  for (int r = 0; r < R; ++r) for (int j = 0; j < 4; ++j) _mm512_storeu_ps(C + r * ldc + 16 * j, acc[r][j]);
}
__attribute__((target("avx512f"))) void kern(int64_t m, int64_t k, const float* A, int64_t lda, const float* Bp, float* C, int64_t ldc) {
  int64_t i = 0;
  for (; i + 6 <= m; i += 6) block<6>(A + i * lda, lda, Bp, k, C + i * ldc, ldc);
  for (; i < m; ++i) block<1>(A + i * lda, lda, Bp, k, C + i * ldc, ldc);
}
