// mnemo/bench/heap_allocation_counter.hpp — counts every heap allocation of the process, on
// every thread: glibc's malloc, calloc, realloc and the aligned allocators are replaced by
// wrappers that count and call glibc's own (operator new, Eigen's buffers and third-party
// libraries all come through them). The benchmarks report allocations per streaming step with it,
// and a test asserts that a warm step makes none.
//
// It DEFINES malloc and friends: include it in exactly one translation unit of a program. Where
// it cannot work (not glibc, or under a sanitizer, which brings its own allocator) it defines
// nothing and heap_allocations_counted() is false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>  // glibc's declarations of malloc & co. (and __GLIBC__) before the definitions

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define MNEMO_HEAP_UNDER_SANITIZER 1
#endif
#endif
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && \
    !defined(MNEMO_HEAP_UNDER_SANITIZER)
#define MNEMO_HEAP_ALLOCATIONS_COUNTED 1
#include <atomic>
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
}
namespace mnemo::bench::detail {
inline std::atomic<int64_t> heap_allocations{0};
inline void count_heap_allocation() { heap_allocations.fetch_add(1, std::memory_order_relaxed); }
}  // namespace mnemo::bench::detail
extern "C" void* malloc(std::size_t n) noexcept {
  mnemo::bench::detail::count_heap_allocation();
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t count, std::size_t n) noexcept {
  mnemo::bench::detail::count_heap_allocation();
  return __libc_calloc(count, n);
}
extern "C" void* realloc(void* p, std::size_t n) noexcept {
  mnemo::bench::detail::count_heap_allocation();
  return __libc_realloc(p, n);
}
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t n) noexcept {
  mnemo::bench::detail::count_heap_allocation();
  return __libc_memalign(alignment, n);
}
extern "C" void* memalign(std::size_t alignment, std::size_t n) noexcept {
  mnemo::bench::detail::count_heap_allocation();
  return __libc_memalign(alignment, n);
}
extern "C" int posix_memalign(void** p, std::size_t alignment, std::size_t n) noexcept {
  mnemo::bench::detail::count_heap_allocation();
  *p = __libc_memalign(alignment, n);
  return *p || n == 0 ? 0 : 12;  // ENOMEM
}
#endif

namespace mnemo::bench {

/// True where this program's heap allocations are counted (see the file comment).
constexpr bool heap_allocations_counted() {
#if defined(MNEMO_HEAP_ALLOCATIONS_COUNTED)
  return true;
#else
  return false;
#endif
}

/// Heap allocations of the process so far, all threads (0 where they are not counted).
inline int64_t heap_allocation_count() {
#if defined(MNEMO_HEAP_ALLOCATIONS_COUNTED)
  return detail::heap_allocations.load(std::memory_order_relaxed);
#else
  return 0;
#endif
}

}  // namespace mnemo::bench
