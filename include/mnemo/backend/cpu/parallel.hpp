// mnemo/backend/cpu/parallel.hpp — static-partition parallel loops on mnemo's thread pool
// (cpu/thread_pool.hpp). The partition depends only on the loop length and the thread count,
// never on timing, so results are reproducible.
#pragma once

#include <algorithm>
#include <cstdint>

#include "mnemo/backend/cpu/thread_pool.hpp"

namespace mnemo::cpu {

/// Below this many "operations" a loop runs on the calling thread: handing work to another
/// thread and waiting for it costs about a microsecond on an idle machine.
inline constexpr int64_t kParallelWork = 1 << 17;

/// Chunks per thread of a parallel loop: with more chunks than threads, a thread that the
/// scheduler holds back leaves its unclaimed chunks to the others.
inline constexpr int64_t kChunksPerThread = 4;

/// Threads a parallel_for started here may use: 1 inside a task of the pool.
inline int64_t parallel_threads() {
  return ThreadPool::in_task() ? 1 : std::max(ThreadPool::instance().threads(), 1);
}

/// Calls body(begin, end) over contiguous chunks of [0, n), on several threads when
/// n · cost_per_item is large enough to pay for them.
template <class Body>
void parallel_for(int64_t n, int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  const int64_t threads = parallel_threads();
  if (n > 1 && threads > 1 && n * std::max<int64_t>(cost_per_item, 1) >= kParallelWork) {
    const int64_t chunks = std::min(n, threads * kChunksPerThread);
    ThreadPool::instance().run(chunks, [&](int64_t c) {
      const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
      if (begin < end) body(begin, end);
    });
    return;
  }
  body(int64_t{0}, n);
}

}  // namespace mnemo::cpu
