// mnemo/core/arena_pool.hpp — the members of mnemo::Arena (core/arena.hpp) and the state they
// share: per size class a free list of blocks, the counters, and the mutex that guards both.
// Header-only mode: core/arena.hpp includes this header and the members are inline. Compiled mode
// (MNEMO_COMPILED): mnemo::compiled includes it in exactly one translation unit
// (src/compiled/backend_nn_float.cpp), where the members are compiled once, not inline; a user
// translation unit does not include it.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mnemo/core/arena.hpp"
#include "mnemo/core/error.hpp"

#if defined(MNEMO_COMPILED)
#define MNEMO_ARENA_MEMBER
#else
#define MNEMO_ARENA_MEMBER inline
#endif

namespace mnemo::detail {

struct ArenaPool {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free;  // rounded size -> cached blocks
  MemoryStats stats;

  // Gives every cached block back through `raw_free`. The caller holds `mutex`.
  void release_cached_locked(Arena::RawFree raw_free) noexcept {
    for (auto& [size, blocks] : free) {
      for (void* p : blocks) {
        raw_free(p);
        stats.bytes_reserved -= size;
      }
      blocks.clear();
    }
  }
};

}  // namespace mnemo::detail

namespace mnemo {

MNEMO_ARENA_MEMBER Arena::Arena(std::string name, RawAllocate raw_allocate, RawFree raw_free)
    : name_(std::move(name)), raw_allocate_(raw_allocate), raw_free_(raw_free), pool_(new detail::ArenaPool) {}

MNEMO_ARENA_MEMBER Arena::~Arena() {
  release_cached();
  delete pool_;
}

MNEMO_ARENA_MEMBER void* Arena::allocate(size_t bytes) {
  if (bytes > kMaxBytes)
    throw Error(detail::cat(name_, " arena: cannot allocate ", bytes, " bytes, expected at most ", kMaxBytes));
  const size_t size = round_size(bytes);
  detail::ArenaPool& pool = *pool_;
  std::lock_guard<std::mutex> lock(pool.mutex);
  ++pool.stats.allocations;
  void* p = nullptr;
  auto it = pool.free.find(size);
  if (it != pool.free.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
  } else {
    p = raw_allocate_(size);
    if (p == nullptr) {
      // Give the cache back to the system and try once more before failing.
      pool.release_cached_locked(raw_free_);
      p = raw_allocate_(size);
    }
    if (p == nullptr)
      throw Error(detail::cat(name_, " arena: out of memory allocating ", size, " bytes (",
                              pool.stats.bytes_in_use, " bytes in use)"));
    pool.stats.bytes_reserved += size;
    ++pool.stats.system_allocations;
  }
  pool.stats.bytes_in_use += size;
  if (pool.stats.bytes_in_use > pool.stats.peak_bytes) pool.stats.peak_bytes = pool.stats.bytes_in_use;
  return p;
}

MNEMO_ARENA_MEMBER void Arena::deallocate(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(pool_->mutex);
  pool_->stats.bytes_in_use -= size;
  pool_->free[size].push_back(p);
}

MNEMO_ARENA_MEMBER MemoryStats Arena::stats() const {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  return pool_->stats;
}

MNEMO_ARENA_MEMBER void Arena::reset_peak() {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  pool_->stats.peak_bytes = pool_->stats.bytes_in_use;
}

MNEMO_ARENA_MEMBER void Arena::release_cached() {
  std::lock_guard<std::mutex> lock(pool_->mutex);
  pool_->release_cached_locked(raw_free_);
}

}  // namespace mnemo

#undef MNEMO_ARENA_MEMBER
