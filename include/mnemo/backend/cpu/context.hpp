// mnemo/backend/cpu/context.hpp — the CPU context (its arena), host allocation and threading.
#pragma once

#include <cstdlib>
#include <new>

#include <Eigen/Core>

#if defined(_OPENMP)
#include <omp.h>
#endif

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

/// Threads used by mnemo's CPU kernels and by Eigen's GEMM (OpenMP builds; otherwise 1).
inline void set_num_threads(int n) {
#if defined(_OPENMP)
  omp_set_num_threads(n < 1 ? 1 : n);
#endif
  Eigen::setNbThreads(n < 1 ? 1 : n);
}
inline int num_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

}  // namespace mnemo::cpu
