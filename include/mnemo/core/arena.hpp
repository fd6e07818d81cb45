// mnemo/core/arena.hpp — the workspace arena: a caching allocator over a backend's raw
// allocation calls. Freed blocks go to a free list keyed by their rounded size and are handed
// out again, so a steady-state step (a training step, a streaming segment) never reaches the
// system allocator (or cudaMalloc). It counts the bytes in use and their high-water mark, which
// the benchmarks report as "peak memory".
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mnemo/core/error.hpp"

namespace mnemo {

struct MemoryStats {
  size_t bytes_in_use = 0;    // handed out and not yet returned (rounded sizes)
  size_t peak_bytes = 0;      // high-water mark of bytes_in_use since the last reset_peak()
  size_t bytes_reserved = 0;  // obtained from the system: in use + cached
  size_t allocations = 0;     // allocate() calls since construction
  size_t system_allocations = 0;  // of those, how many reached the system allocator
};

class Arena {
 public:
  using RawAllocate = void* (*)(size_t bytes);
  using RawFree = void (*)(void* ptr);

  Arena(std::string name, RawAllocate raw_allocate, RawFree raw_free)
      : name_(std::move(name)), raw_allocate_(raw_allocate), raw_free_(raw_free) {}
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena() { release_cached(); }

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
  void* allocate(size_t bytes) {
    if (bytes > kMaxBytes)
      throw Error(detail::cat(name_, " arena: cannot allocate ", bytes, " bytes, expected at most ", kMaxBytes));
    const size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.allocations;
    void* p = nullptr;
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    } else {
      p = raw_allocate_(size);
      if (p == nullptr) {
        // Give the cache back to the system and try once more before failing.
        release_cached_locked();
        p = raw_allocate_(size);
      }
      if (p == nullptr)
        throw Error(detail::cat(name_, " arena: out of memory allocating ", size, " bytes (",
                                stats_.bytes_in_use, " bytes in use)"));
      stats_.bytes_reserved += size;
      ++stats_.system_allocations;
    }
    stats_.bytes_in_use += size;
    if (stats_.bytes_in_use > stats_.peak_bytes) stats_.peak_bytes = stats_.bytes_in_use;
    return p;
  }

  void deallocate(void* p, size_t bytes) noexcept {
    if (p == nullptr) return;
    const size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.bytes_in_use -= size;
    free_[size].push_back(p);
  }

  MemoryStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  /// Restarts the high-water mark at the current bytes in use.
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_bytes = stats_.bytes_in_use;
  }
  /// Returns every cached (free) block to the system.
  void release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }
  const std::string& name() const { return name_; }

 private:
  void release_cached_locked() noexcept {
    for (auto& [size, blocks] : free_) {
      for (void* p : blocks) {
        raw_free_(p);
        stats_.bytes_reserved -= size;
      }
      blocks.clear();
    }
  }

  std::string name_;
  RawAllocate raw_allocate_;
  RawFree raw_free_;
  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  MemoryStats stats_;
};

}  // namespace mnemo
