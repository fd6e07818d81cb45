// mnemo/backend/cpu/parallel.hpp — static-partition parallel loops. The partition depends only
// on the loop length and the thread count, never on timing, so results are reproducible.
#pragma once

#include <algorithm>
#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace mnemo::cpu {

/// Below this many "operations" a loop runs on the calling thread: waking the team and joining
/// it costs microseconds on an idle machine, and up to a scheduler time slice on a loaded one.
inline constexpr int64_t kParallelWork = 1 << 17;

/// Threads a parallel_for started here may use: 1 inside a parallel region or without OpenMP.
inline int64_t parallel_threads() {
#if defined(_OPENMP)
  return omp_in_parallel() ? 1 : std::max(omp_get_max_threads(), 1);
#else
  return 1;
#endif
}

/// Calls body(begin, end) over contiguous chunks of [0, n), one chunk per thread when
/// n · cost_per_item is large enough to pay for the threads.
template <class Body>
void parallel_for(int64_t n, int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
#if defined(_OPENMP)
  if (n > 1 && n * std::max<int64_t>(cost_per_item, 1) >= kParallelWork && !omp_in_parallel() &&
      omp_get_max_threads() > 1) {
    const int want = static_cast<int>(std::min<int64_t>(n, omp_get_max_threads()));
#pragma omp parallel num_threads(want)
    {
      const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t begin = n * t / nt, end = n * (t + 1) / nt;
      if (begin < end) body(begin, end);
    }
    return;
  }
#else
  (void)cost_per_item;  // serial build (no OpenMP, e.g. an nvcc translation unit)
#endif
  body(int64_t{0}, n);
}

}  // namespace mnemo::cpu
