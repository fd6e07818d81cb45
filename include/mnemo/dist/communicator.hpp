// mnemo/dist/communicator.hpp — what data-parallel training needs from a transport between
// processes: the dist::Communicator concept, and dist::SingleProcess, the one-rank communicator
// (docs/distributed.md).
//
// A communicator connects `size()` ranks, each running the same program. Its collectives are
// called by every rank in the same order with the same element counts (as in MPI and NCCL); a
// rank that calls a different sequence deadlocks or fails in the transport.
//
//   dist::SingleProcess one;                       // size 1: the collectives leave data as it is
//   dist::MpiCommunicator world;                   // mnemo/dist/mpi_communicator.hpp (CPU memory)
//   dist::NcclCommunicator gpus(id, rank, size);   // mnemo/dist/nccl_communicator.cuh (GPU memory)
//
// Determinism contract of all_reduce_sum: every rank ends with the same bits, and those bits
// are x_0 + x_1 + ... + x_{R-1} summed element by element in rank order, left to right. So the
// result depends on the rank count but not on the run, the network or the transport's algorithm.
#pragma once

#include <concepts>
#include <cstddef>
#include <type_traits>

#include "mnemo/core/error.hpp"
#include "mnemo/core/tensor.hpp"

namespace mnemo::dist {

/// A transport between the ranks of one job. A type C provides:
///  - `backend`: the mnemo backend whose memory its buffers live in (Cpu: host memory; Cuda:
///    device memory);
///  - `rank()` in [0, size()) and `size()` >= 1;
///  - `barrier()`: returns on every rank once every rank has called it;
///  - `all_reduce_sum(data, n)` for float and double: in place, every rank's n elements become
///    the element-wise sum over the ranks, in rank order (see the top of this file);
///  - `broadcast(data, n, root)` for float and double: every rank's n elements become root's.
template <class C>
concept Communicator = requires(C& c, const C& cc, float* f, double* d, size_t n, int root) {
  typename C::backend;
  { cc.rank() } -> std::convertible_to<int>;
  { cc.size() } -> std::convertible_to<int>;
  c.barrier();
  c.all_reduce_sum(f, n);
  c.all_reduce_sum(d, n);
  c.broadcast(f, n, root);
  c.broadcast(d, n, root);
};

/// A communicator that can also start a sum without waiting for it (MpiCommunicator), so that
/// dist::DataParallel overlaps a bucket's transfer with the rest of the backward pass:
/// `start_all_reduce_sum(data, n)` returns a `C::PendingSum<T>`, `progress(p)` lets the transport
/// advance it, `finish_all_reduce_sum(p)` waits and leaves in data the bits all_reduce_sum would.
template <class C, class T>
concept NonBlockingSum = requires(C& c, T* data, size_t n, typename C::template PendingSum<T>& p) {
  { c.start_all_reduce_sum(data, n) } -> std::same_as<typename C::template PendingSum<T>>;
  c.progress(p);
  c.finish_all_reduce_sum(p);
};

/// The communicator of a job with one rank: every collective leaves the data as it is. Code
/// written against dist::Communicator runs (and is tested) with it, without MPI or NCCL.
class SingleProcess {
 public:
  using backend = Cpu;  ///< nothing is moved, so any memory would do; Cpu is the common case

  int rank() const { return 0; }
  int size() const { return 1; }
  void barrier() {}
  /// The sum over one rank is the data itself.
  template <class T>
  void all_reduce_sum(T*, size_t) {}
  /// ValueError unless root is 0 (the only rank).
  template <class T>
  void broadcast(T*, size_t, int root) {
    require<ValueError>(root == 0, "SingleProcess::broadcast: root = ", root, ", expected 0 (the only rank)");
  }
};

static_assert(Communicator<SingleProcess>);

namespace comm_detail {
/// Runs `op(device pointer)` on a copy of n host doubles in the communicator's memory and copies
/// the result back (a Cpu communicator works on the host values directly).
template <Communicator C, class Op>
void on_host_values(C& comm, double* values, size_t n, Op&& op) {
  using B = typename C::backend;
  if constexpr (std::is_same_v<B, Cpu>) {
    op(values);
  } else {
    auto& ctx = BackendTraits<B>::default_context();
    Tensor<double, B> buffer(Shape{static_cast<int64_t>(n)});
    BackendTraits<B>::copy_from_host(ctx, buffer.data(), values, n * sizeof(double));
    BackendTraits<B>::synchronize(ctx);
    op(buffer.data());
    comm.barrier();  // drains the communicator's stream
    BackendTraits<B>::copy_to_host(ctx, values, buffer.data(), n * sizeof(double));
  }
}
}  // namespace comm_detail

/// all_reduce_sum of n doubles in host memory, whatever memory the communicator's buffers are in
/// (small bookkeeping values: token counts, losses, flags). Collective.
template <Communicator C>
void all_reduce_sum_host(C& comm, double* values, size_t n) {
  comm_detail::on_host_values(comm, values, n, [&](double* p) { comm.all_reduce_sum(p, n); });
}

/// broadcast of n doubles in host memory from `root`, whatever the communicator's memory. Collective.
template <Communicator C>
void broadcast_host(C& comm, double* values, size_t n, int root) {
  comm_detail::on_host_values(comm, values, n, [&](double* p) { comm.broadcast(p, n, root); });
}

}  // namespace mnemo::dist
