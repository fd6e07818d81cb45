// mnemo/backend/cuda/scratch.cuh — ScratchBuffer<U>: temporary device memory for a kernel's
// partial results, from the context's arena. It may be released as soon as the kernels that use
// it are queued: the arena hands the block out again only to work queued later on the same
// stream (see context.cuh).
#pragma once

#include <cstddef>
#include <cstdint>

#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/core/arena.hpp"

namespace mnemo::cuda {

template <class U>
class ScratchBuffer {
 public:
  /// Room for `count` elements (at least one, so data() is always a valid device pointer).
  ScratchBuffer(CudaContext& ctx, int64_t count)
      : arena_(&ctx.arena()), bytes_(sizeof(U) * static_cast<size_t>(count > 0 ? count : 1)),
        data_(static_cast<U*>(arena_->allocate(bytes_))) {}
  ~ScratchBuffer() { arena_->deallocate(data_, bytes_); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;

  U* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  Arena* arena_;
  size_t bytes_;
  U* data_;
};

}  // namespace mnemo::cuda
