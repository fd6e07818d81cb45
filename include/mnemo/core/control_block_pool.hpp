// mnemo/core/control_block_pool.hpp — recycled heap blocks for the control blocks of Tensor's
// shared storage.
//
// A Tensor holds its arena storage through a std::shared_ptr; std::make_shared would take one
// heap block per tensor for the reference counts and the Storage record (the arena serves the
// data itself). A streaming step creates a few hundred short-lived tensors, so those blocks were
// most of its heap allocations. `PooledAllocator` hands the control block to
// std::allocate_shared from a per-thread free list of blocks of that one size, so a warm step
// takes none from the system allocator.
//
// Each thread keeps at most kCachedBlocks free blocks; a block freed on a thread whose list is
// full (or whose thread-local storage is being torn down, e.g. a static Tensor destroyed at exit)
// goes straight back to operator delete. Blocks may be freed on a different thread from the one
// that took them: they simply join that thread's list.
#pragma once

#include <cstddef>
#include <new>

namespace mnemo::detail {

/// The calling thread's free list of `Bytes`-byte blocks aligned to `Align`.
template <std::size_t Bytes, std::size_t Align>
class BlockFreeList {
 public:
  static constexpr std::size_t kCachedBlocks = 4096;

  static void* take() {
    List& list = local();
    if (list.head != nullptr) {
      Node* node = list.head;
      list.head = node->next;
      --list.count;
      return node;
    }
    return ::operator new(kBlockBytes, std::align_val_t{kAlign});
  }

  static void give(void* block) noexcept {
    List& list = local();
    if (list.torn_down || list.count >= kCachedBlocks) {
      ::operator delete(block, std::align_val_t{kAlign});
      return;
    }
    Node* node = static_cast<Node*>(block);
    node->next = list.head;
    list.head = node;
    ++list.count;
  }

  /// Free blocks cached on the calling thread (for tests).
  static std::size_t cached() { return local().count; }

 private:
  struct Node {
    Node* next;
  };
  static constexpr std::size_t kAlign = Align < alignof(Node) ? alignof(Node) : Align;
  static constexpr std::size_t kBlockBytes = Bytes < sizeof(Node) ? sizeof(Node) : Bytes;

  // Trivially destructible, so it stays usable after the thread's destructors ran; the Reaper
  // (destroyed with the thread) frees the cached blocks and marks the list torn down.
  struct List {
    Node* head = nullptr;
    std::size_t count = 0;
    bool torn_down = false;
  };
  struct Reaper {
    List* list;
    ~Reaper() {
      list->torn_down = true;
      while (list->head != nullptr) {
        Node* node = list->head;
        list->head = node->next;
        ::operator delete(node, std::align_val_t{kAlign});
      }
      list->count = 0;
    }
  };

  static List& local() {
    thread_local List list;
    thread_local Reaper reaper{&list};
    (void)reaper;
    return list;
  }
};

/// Allocator for std::allocate_shared: single objects come from the thread's BlockFreeList of
/// their size; arrays (never asked for by allocate_shared) from operator new.
template <class T>
struct PooledAllocator {
  using value_type = T;

  PooledAllocator() = default;
  template <class U>
  PooledAllocator(const PooledAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n == 1) return static_cast<T*>(BlockFreeList<sizeof(T), alignof(T)>::take());
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignof(T)}));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n == 1) {
      BlockFreeList<sizeof(T), alignof(T)>::give(p);
      return;
    }
    ::operator delete(p, std::align_val_t{alignof(T)});
  }

  template <class U>
  bool operator==(const PooledAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace mnemo::detail
