// mnemo/dist/nccl_communicator.cuh — dist::Communicator over NCCL, for ranks whose buffers are in
// GPU memory (the Cuda backend): one rank per GPU (docs/distributed.md). nvcc only; CMake's
// target mnemo::nccl adds NCCL (shipped with the CUDA toolkit) to mnemo::cuda.
//
//   ncclUniqueId id = ...;  // rank 0: NcclCommunicator::new_id(); sent to the others by MPI or a file
//   mnemo::dist::NcclCommunicator gpus(id, rank, size, ctx.stream());
//   mnemo::dist::DataParallel<mnemo::dist::NcclCommunicator, float, mnemo::Cuda> dp(gpus, {&model.parameters()});
//
// Fixed-order sums, as dist::MpiCommunicator: ncclAllReduce picks ring or tree algorithms and
// protocols by size and topology, so its floating-point order is not fixed. all_reduce_sum
// gathers every rank's buffer (ncclAllGather, bytes only) and a kernel adds the R copies element
// by element in rank order on every GPU: the same additions on the same operands, so the same
// bits on every rank and in every run with this rank count. Costs (R-1)·n received elements per
// rank and R·chunk elements of device scratch.
//
// Every collective is enqueued on the communicator's stream (pass the mnemo::CudaContext's, so
// it is ordered with the backward pass and the optimizer); broadcast and all_reduce_sum return
// once enqueued, barrier() waits for the stream.
#pragma once

#if !defined(__CUDACC__)
#error "<mnemo/dist/nccl_communicator.cuh> needs the CUDA compiler: include it only from .cu files (link mnemo::nccl)"
#endif

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <type_traits>

#include "mnemo/backend/cuda/check.cuh"
#include "mnemo/backend/tags.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/dist/communicator.hpp"

namespace mnemo::dist {

/// An NCCL call failed; the message names the call and NCCL's error string.
class NcclError : public Error {
 public:
  explicit NcclError(const std::string& m) : Error("NcclError", m) {}
};

namespace nccl_detail {
inline void check(ncclResult_t status, const char* call) {
  if (status == ncclSuccess) return;
  throw NcclError(detail::cat(call, " failed: ", ncclGetErrorString(status)));
}

template <class T>
ncclDataType_t datatype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "NcclCommunicator: the collectives take float or double buffers");
  return std::is_same_v<T, float> ? ncclFloat32 : ncclFloat64;
}

/// out[i] = ((g[0·n+i] + g[1·n+i]) + g[2·n+i]) + ...: the rank-order sum of R gathered copies.
template <class T>
__global__ void rank_order_sum(const T* gathered, T* out, size_t n, int ranks) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    T acc = gathered[i];
    for (int r = 1; r < ranks; ++r) acc = acc + gathered[static_cast<size_t>(r) * n + i];
    out[i] = acc;
  }
}
}  // namespace nccl_detail

/// dist::Communicator over an NCCL communicator it creates (ncclCommInitRank) and destroys.
/// The current CUDA device must be this rank's GPU when it is constructed.
class NcclCommunicator {
 public:
  using backend = Cuda;

  /// A fresh id for a new job; rank 0 makes it and every rank passes it to the constructor.
  static ncclUniqueId new_id() {
    ncclUniqueId id;
    nccl_detail::check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    return id;
  }

  /// File-based rendezvous (no MPI): rank 0 writes a new id to `path` (on a file system every
  /// rank sees; written to path + ".tmp" and renamed, so readers never see half a file), the
  /// others wait up to `timeout` for it. IoError when it cannot be written or does not appear.
  static ncclUniqueId id_through_file(const std::string& path, int rank,
                                      std::chrono::seconds timeout = std::chrono::seconds(120)) {
    ncclUniqueId id;
    if (rank == 0) {
      id = new_id();
      const std::string tmp = path + ".tmp";
      {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out.write(id.internal, sizeof(id.internal));
        require<IoError>(static_cast<bool>(out), "NcclCommunicator::id_through_file: cannot write '", tmp, "'");
      }
      require<IoError>(std::rename(tmp.c_str(), path.c_str()) == 0, "NcclCommunicator::id_through_file: cannot rename '",
                       tmp, "' to '", path, "'");
      return id;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::ifstream in(path, std::ios::binary);
      if (in.read(id.internal, sizeof(id.internal))) return id;
      require<IoError>(std::chrono::steady_clock::now() < deadline, "NcclCommunicator::id_through_file: '", path,
                       "' did not appear within ", timeout.count(), " s (expected rank 0 to write it)");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  /// Joins job `id` as `rank` of `size`, enqueueing on `stream`. ValueError for a rank outside
  /// [0, size) or chunk_elements < 1.
  NcclCommunicator(const ncclUniqueId& id, int rank, int size, cudaStream_t stream,
                   size_t chunk_elements = size_t{1} << 22)
      : rank_(rank), size_(size), stream_(stream), chunk_(chunk_elements) {
    require<ValueError>(size >= 1 && rank >= 0 && rank < size, "NcclCommunicator: rank ", rank, " of ", size,
                        ", expected 0 <= rank < size");
    require<ValueError>(chunk_elements >= 1, "NcclCommunicator: chunk_elements = 0, expected >= 1");
    nccl_detail::check(ncclCommInitRank(&comm_, size, id, rank), "ncclCommInitRank");
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ~NcclCommunicator() {
    if (scratch_) cudaFree(scratch_);
    if (comm_) ncclCommDestroy(comm_);
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  cudaStream_t stream() const { return stream_; }

  /// Returns once every rank has reached it and this rank's stream has drained.
  void barrier() {
    float* one = static_cast<float*>(scratch_bytes(sizeof(float)));
    nccl_detail::check(ncclAllReduce(one, one, 1, ncclFloat32, ncclSum, comm_, stream_), "ncclAllReduce (barrier)");
    MNEMO_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  /// In place on device memory: data[i] = x_0[i] + ... + x_{R-1}[i] in rank order, the same bits
  /// on every rank. Every rank must pass the same n. Enqueued on stream().
  template <class T>
  void all_reduce_sum(T* data, size_t n) {
    if (size_ == 1 || n == 0) return;
    for (size_t offset = 0; offset < n; offset += chunk_) {
      const size_t count = std::min(chunk_, n - offset);
      T* gathered = static_cast<T*>(scratch_bytes(static_cast<size_t>(size_) * count * sizeof(T)));
      nccl_detail::check(ncclAllGather(data + offset, gathered, count, nccl_detail::datatype<T>(), comm_, stream_),
                         "ncclAllGather");
      const unsigned blocks = static_cast<unsigned>(std::min<size_t>((count + 255) / 256, 4096));
      nccl_detail::rank_order_sum<T><<<blocks, 256, 0, stream_>>>(gathered, data + offset, count, size_);
      MNEMO_CUDA_CHECK(cudaGetLastError());
    }
  }

  /// In place on device memory: every rank's n elements become rank `root`'s. Enqueued on stream().
  template <class T>
  void broadcast(T* data, size_t n, int root) {
    require<ValueError>(root >= 0 && root < size_, "NcclCommunicator::broadcast: root = ", root,
                        ", expected a rank in [0, ", size_, ")");
    nccl_detail::check(ncclBroadcast(data, data, n, nccl_detail::datatype<T>(), root, comm_, stream_), "ncclBroadcast");
  }

 private:
  void* scratch_bytes(size_t bytes) {
    if (bytes > scratch_size_) {
      MNEMO_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the old buffer may still be read
      if (scratch_) MNEMO_CUDA_CHECK(cudaFree(scratch_));
      scratch_ = nullptr;
      MNEMO_CUDA_CHECK(cudaMalloc(&scratch_, bytes));
      scratch_size_ = bytes;
    }
    return scratch_;
  }

  ncclComm_t comm_ = nullptr;
  int rank_;
  int size_;
  cudaStream_t stream_;
  size_t chunk_;
  void* scratch_ = nullptr;
  size_t scratch_size_ = 0;
};

static_assert(Communicator<NcclCommunicator>);

}  // namespace mnemo::dist
