// mnemo/backend/cpu/context.hpp — the CPU context (its arena), host allocation and threading.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>

#include "mnemo/backend/cpu/parallel.hpp"  // the pool (directly, or in the compiled mode through detail::pool_*)
#include "mnemo/core/arena.hpp"

namespace mnemo::cpu {

inline void* host_allocate(size_t bytes) {
  // 256-byte alignment: whole cache lines, and wide enough for any SIMD width.
  return ::operator new(bytes, std::align_val_t{256}, std::nothrow);
}
inline void host_free(void* p) { ::operator delete(p, std::align_val_t{256}); }

/// The CPU backend's context: the arena tensors and workspaces come from. One per thread of
/// work is enough; the default one serves everything that does not name another.
class CpuContext {
 public:
  explicit CpuContext(Arena& arena) : arena_(&arena) {}
  Arena& arena() const { return *arena_; }

  static CpuContext& default_context() {
    // Intentionally leaked: tensors with static storage duration may outlive any static object.
    static Arena* arena = new Arena("cpu", &host_allocate, &host_free);
    static CpuContext* ctx = new CpuContext(*arena);
    return *ctx;
  }

 private:
  Arena* arena_;
};

/// Threads mnemo's CPU kernels (GEMM included) may use, the calling thread included: its own
/// pool (cpu/thread_pool.hpp), not OpenMP. Default: MNEMO_NUM_THREADS, else OMP_NUM_THREADS,
/// else the hardware's thread count.
/// parallel_jobs(): parallel loops handed to the pool's workers since the process started (each
/// is one fork and one join; a loop too small to share runs on its caller and is not counted).
#if defined(MNEMO_COMPILED)
inline void set_num_threads(int n) { detail::pool_set_threads(n); }
inline int num_threads() { return detail::pool_threads(); }
inline uint64_t parallel_jobs() { return detail::pool_jobs_shared(); }
#else
inline void set_num_threads(int n) { ThreadPool::instance().set_threads(n); }
inline int num_threads() { return ThreadPool::instance().threads(); }
inline uint64_t parallel_jobs() { return ThreadPool::instance().jobs_shared(); }
#endif

}  // namespace mnemo::cpu
