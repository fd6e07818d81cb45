// mnemo/backend/cpu/parallel.hpp — static-partition parallel loops on mnemo's thread pool
// (cpu/thread_pool.hpp). The partition depends only on the loop length and the thread count,
// never on timing, so results are reproducible.
//
// In the compiled mode (MNEMO_COMPILED, docs/compile_time.md) the loops reach the pool through
// five functions compiled in mnemo::compiled (detail::pool_*), so that a user TU does not parse
// the pool (<thread>, <atomic>, <chrono>); the header-only mode calls the pool directly.
#pragma once

#include <algorithm>
#include <cstdint>

#if !defined(MNEMO_COMPILED)
#include "mnemo/backend/cpu/thread_pool.hpp"
#endif

namespace mnemo::cpu {

#if defined(MNEMO_COMPILED)
namespace detail {
/// ThreadPool::instance().run(tasks, i ↦ invoke(context, i)) (cpu/thread_pool.hpp); compiled in
/// mnemo::compiled (src/compiled/backend_nn_float.cpp), like the four below.
void pool_run(int64_t tasks, void (*invoke)(void*, int64_t), void* context);
/// ThreadPool::instance().threads(): threads a job may use, the calling thread included.
int pool_threads();
/// ThreadPool::instance().set_threads(n).
void pool_set_threads(int n);
/// ThreadPool::in_task(): true on a worker, and on a caller while it runs tasks.
bool pool_in_task();
/// ThreadPool::instance().jobs_shared(): jobs opened to the workers so far.
uint64_t pool_jobs_shared();
}  // namespace detail
#endif

/// Below this many "operations" a loop runs on the calling thread: handing work to another
/// thread and waiting for it costs about a microsecond on an idle machine.
inline constexpr int64_t kParallelWork = 1 << 17;

/// Chunks per thread of a parallel loop: with more chunks than threads, a thread that the
/// scheduler holds back leaves its unclaimed chunks to the others.
inline constexpr int64_t kChunksPerThread = 4;

/// Threads a parallel_for started here may use: 1 inside a task of the pool.
inline int64_t parallel_threads() {
#if defined(MNEMO_COMPILED)
  return detail::pool_in_task() ? 1 : std::max(detail::pool_threads(), 1);
#else
  return ThreadPool::in_task() ? 1 : std::max(ThreadPool::instance().threads(), 1);
#endif
}

/// Calls body(begin, end) over contiguous chunks of [0, n), on several threads when
/// n · cost_per_item is large enough to pay for them.
template <class Body>
void parallel_for(int64_t n, int64_t cost_per_item, Body&& body) {
  if (n <= 0) return;
  const int64_t threads = parallel_threads();
  if (n > 1 && threads > 1 && n * std::max<int64_t>(cost_per_item, 1) >= kParallelWork) {
    const int64_t chunks = std::min(n, threads * kChunksPerThread);
    auto chunk = [&](int64_t c) {
      const int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
      if (begin < end) body(begin, end);
    };
#if defined(MNEMO_COMPILED)
    using Chunk = decltype(chunk);
    detail::pool_run(chunks, [](void* context, int64_t c) { (*static_cast<Chunk*>(context))(c); }, &chunk);
#else
    ThreadPool::instance().run(chunks, chunk);
#endif
    return;
  }
  body(int64_t{0}, n);
}

}  // namespace mnemo::cpu
