// mnemo/backend/cpu/embedding.hpp — row gather from a table and its adjoint, scatter-add.
//   gather:      out[i, :] = table[ids[i], :]
//   scatter_add: dtable[ids[i], :] += dout[i, :]   (tokens in order, columns split among threads:
//                deterministic, no atomics)
// ids must lie in [0, vocab) (checked by the caller).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "mnemo/backend/cpu/parallel.hpp"

namespace mnemo::cpu {

template <class T>
void embedding_gather(const T* table, const int32_t* ids, T* out, int64_t n, int64_t dim) {
  parallel_for(n, dim, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim, sizeof(T) * static_cast<size_t>(dim));
  });
}

template <class T>
void embedding_scatter_add(const T* dout, const int32_t* ids, T* dtable, int64_t n, int64_t dim) {
  parallel_for(dim, n, [&](int64_t c0, int64_t c1) {
    for (int64_t i = 0; i < n; ++i) {
      T* dst = dtable + static_cast<int64_t>(ids[i]) * dim;
      const T* src = dout + i * dim;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  });
}

}  // namespace mnemo::cpu
