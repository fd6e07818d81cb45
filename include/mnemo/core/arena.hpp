// mnemo/core/arena.hpp — the workspace arena: a caching allocator over a backend's raw
// allocation calls. Freed blocks go to a free list keyed by their rounded size and are handed
// out again, so a steady-state step (a training step, a streaming segment) never reaches the
// system allocator (or cudaMalloc). It counts the bytes in use and their high-water mark, which
// the benchmarks report as "peak memory".
//
// The free lists, the counters and their mutex live in a detail::ArenaPool the arena owns
// (core/arena_pool.hpp, which also defines the members). Header-only mode: that header is
// included here and the members are inline. Compiled mode (MNEMO_COMPILED, docs/compile_time.md):
// they are compiled once in mnemo::compiled, so a user translation unit parses neither <mutex>
// nor the pool's hash map. The arena's layout is the same in both modes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mnemo {

struct MemoryStats {
  size_t bytes_in_use = 0;    // handed out and not yet returned (rounded sizes)
  size_t peak_bytes = 0;      // high-water mark of bytes_in_use since the last reset_peak()
  size_t bytes_reserved = 0;  // obtained from the system: in use + cached
  size_t allocations = 0;     // allocate() calls since construction
  size_t system_allocations = 0;  // of those, how many reached the system allocator
};

namespace detail {
struct ArenaPool;  // the free lists, the counters and their mutex (core/arena_pool.hpp)
}  // namespace detail

class Arena {
 public:
  using RawAllocate = void* (*)(size_t bytes);
  using RawFree = void (*)(void* ptr);

  Arena(std::string name, RawAllocate raw_allocate, RawFree raw_free);
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  /// Returns every cached block to the system.
  ~Arena();

  /// The largest request allocate() accepts (2^62 bytes): above it, rounding could overflow and
  /// no system could serve it anyway.
  static constexpr size_t kMaxBytes = size_t{1} << 62;

  /// Size class of a request: multiples of 512 bytes up to 1 MiB, then steps of 1/16 of the
  /// enclosing power of two (waste under 6.25%). `bytes` must be at most kMaxBytes (allocate()
  /// checks), so the power of two never overflows.
  static size_t round_size(size_t bytes) {
    if (bytes == 0) bytes = 1;
    constexpr size_t kSmall = 512, kLarge = size_t{1} << 20;
    if (bytes <= kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
    if (bytes > kMaxBytes) bytes = kMaxBytes;  // unreachable through allocate(); keeps the loop finite
    size_t pow2 = kLarge;
    while (pow2 < bytes) pow2 <<= 1;
    const size_t step = pow2 / 16;
    return (bytes + step - 1) / step * step;
  }

  /// A block of at least `bytes`, aligned to 256 bytes. Free it with deallocate(ptr, bytes).
  /// Throws mnemo::Error above kMaxBytes, or when the system has no memory left even after the
  /// cache was given back.
  void* allocate(size_t bytes);
  void deallocate(void* p, size_t bytes) noexcept;

  MemoryStats stats() const;
  /// Restarts the high-water mark at the current bytes in use.
  void reset_peak();
  /// Returns every cached (free) block to the system.
  void release_cached();
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  RawAllocate raw_allocate_;
  RawFree raw_free_;
  detail::ArenaPool* pool_;  // owned
};

}  // namespace mnemo

#if !defined(MNEMO_COMPILED)
#include "mnemo/core/arena_pool.hpp"  // the members, inline
#endif
