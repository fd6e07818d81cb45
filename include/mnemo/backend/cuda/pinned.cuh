// mnemo/backend/cuda/pinned.cuh — host data to the device without a synchronisation per copy:
// page-locked (pinned) staging buffers and cudaMemcpyAsync on the context's stream.
//
//   PinnedStaging staging(ctx, bytes_per_copy);     // two pinned slots by default
//   for (...) staging.upload(device_tokens, host_tokens, bytes);   // returns at once
//
// A copy from pageable memory makes CUDA stage the bytes before cudaMemcpyAsync returns (the host
// waits for the DMA engine), and Tensor::from_host with a pinned source synchronises the stream so
// that the caller may reuse it. upload() instead copies the host bytes into one of `slots` pinned
// buffers it owns (a host memcpy), queues the DMA from there on the context's stream, and records
// an event. The host only ever waits when it comes back to a slot whose previous copy is still
// queued: with two slots, for the copy issued two uploads earlier, which in a streaming loop has
// finished long before (the step between them is on the same stream).
#pragma once

#include <cstddef>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/cuda/context.cuh"
#include "mnemo/core/error.hpp"

namespace mnemo::cuda {

/// `bytes` of page-locked host memory (cudaMallocHost), freed with the object.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) MNEMO_CUDA_CHECK(cudaMallocHost(&data_, bytes));
  }
  ~PinnedBuffer() {
    if (data_) (void)cudaFreeHost(data_);
  }
  PinnedBuffer(PinnedBuffer&& o) noexcept : data_(o.data_), bytes_(o.bytes_) {
    o.data_ = nullptr;
    o.bytes_ = 0;
  }
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      if (data_) (void)cudaFreeHost(data_);
      data_ = o.data_;
      bytes_ = o.bytes_;
      o.data_ = nullptr;
      o.bytes_ = 0;
    }
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

/// A ring of pinned slots for asynchronous host-to-device copies on one context's stream.
class PinnedStaging {
 public:
  /// `capacity`: the largest copy in bytes; `slots` ≥ 1 copies may be in flight at once.
  PinnedStaging(CudaContext& ctx, size_t capacity, int slots = 2) : ctx_(&ctx), capacity_(capacity) {
    require<ValueError>(slots >= 1, "PinnedStaging: slots = ", slots, ", expected >= 1");
    for (int i = 0; i < slots; ++i) {
      slots_.emplace_back(capacity);
      cudaEvent_t e = nullptr;
      MNEMO_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      events_.push_back(e);
    }
  }
  ~PinnedStaging() {
    for (cudaEvent_t e : events_) {
      (void)cudaEventSynchronize(e);  // no DMA may still read a slot that is freed
      (void)cudaEventDestroy(e);
    }
    (void)cudaGetLastError();
  }
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  size_t capacity() const { return capacity_; }
  int slots() const { return static_cast<int>(slots_.size()); }

  /// Queues dst ← src (`bytes` of host memory, pageable or not) on the context's stream and
  /// returns; `src` may be reused at once. `dst` must stay valid until the copy has run (stream
  /// order: any later work on the same stream sees the bytes).
  void upload(void* dst, const void* src, size_t bytes) {
    require<ShapeError>(bytes <= capacity_, "PinnedStaging::upload: ", bytes, " bytes, expected at most the capacity ",
                        capacity_);
    if (bytes == 0) return;
    const size_t i = next_;
    next_ = (next_ + 1) % slots_.size();
    MNEMO_CUDA_CHECK(cudaEventSynchronize(events_[i]));  // the slot's previous copy (usually long done)
    std::memcpy(slots_[i].data(), src, bytes);
    MNEMO_CUDA_CHECK(cudaMemcpyAsync(dst, slots_[i].data(), bytes, cudaMemcpyHostToDevice, ctx_->stream()));
    MNEMO_CUDA_CHECK(cudaEventRecord(events_[i], ctx_->stream()));
  }

 private:
  CudaContext* ctx_;
  size_t capacity_;
  std::vector<PinnedBuffer> slots_;
  std::vector<cudaEvent_t> events_;
  size_t next_ = 0;
};

}  // namespace mnemo::cuda

namespace mnemo {
using PinnedStaging = cuda::PinnedStaging;
}  // namespace mnemo
