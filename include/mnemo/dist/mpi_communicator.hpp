// mnemo/dist/mpi_communicator.hpp — dist::Communicator over MPI, for ranks whose buffers are in
// host memory (the Cpu backend), and dist::MpiSession, which starts and stops MPI
// (docs/distributed.md). Needs <mpi.h> and an MPI library (Debian: libopenmpi-dev); CMake's
// target mnemo::mpi adds both (MNEMO_ENABLE_MPI).
//
//   int main(int argc, char** argv) {
//     mnemo::dist::MpiSession mpi(argc, argv);     // MPI_Init ... MPI_Finalize
//     mnemo::dist::MpiCommunicator world;          // MPI_COMM_WORLD, duplicated
//     ...                                          // mpirun -np 4 ./train
//   }
//
// Fixed-order sums. MPI_Allreduce leaves the order of a floating-point sum to the library (it
// picks ring, recursive-doubling or tree algorithms by message size and rank count), so its
// result can change with the message size and the library version. all_reduce_sum therefore
// gathers every rank's buffer (MPI_Allgather, which only moves bytes) and every rank adds the
// R copies itself, element by element in rank order x_0 + x_1 + ... + x_{R-1}. Every rank runs
// the same IEEE additions on the same operands, so every rank holds the same bits, and a run is
// reproducible for a given rank count. The price: each rank receives ·n elements instead of
// a ring all-reduce's 2(R-1)/R·n, and holds R·chunk elements of scratch (chunk: the constructor's
// `chunk_elements`).
#pragma once

#include <mpi.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <type_traits>
#include <vector>

#include "mnemo/core/error.hpp"
#include "mnemo/dist/communicator.hpp"

namespace mnemo::dist {

/// An MPI call failed; the message names the call and MPI's error string.
class MpiError : public Error {
 public:
  explicit MpiError(const std::string& m) : Error("MpiError", m) {}
};

namespace mpi_detail {
/// Throws MpiError naming `call` unless `code` is MPI_SUCCESS.
inline void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw MpiError(detail::cat(call, " failed: ", std::string(text, static_cast<size_t>(length))));
}

template <class T>
MPI_Datatype datatype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "MpiCommunicator: the collectives take float or double buffers");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}
}  // namespace mpi_detail

/// Initialises MPI for the lifetime of the object (MPI_Init, then MPI_Finalize in the
/// destructor). If MPI is already initialised it does neither. A rank that fails must not reach
/// MPI_Finalize while the others wait in a collective (the job would hang): catch the error, then
/// call MpiSession::abort, which prints it and ends every rank of the job. The destructor does the
/// same (without a message) when it runs during stack unwinding.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    mpi_detail::check(MPI_Init(&argc, &argv), "MPI_Init");
    owner_ = true;
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    if (!owner_) return;
    if (std::uncaught_exceptions() > 0) abort("an exception left the scope of the MPI session");
    MPI_Finalize();
  }

  /// Prints "mnemo: rank R: <message>" to stderr and ends every rank of the job (MPI_Abort with
  /// `code`; mpirun then reports the failed rank and stops the others).
  [[noreturn]] static void abort(const std::string& message, int code = 1) {
    int rank = -1, initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    std::fprintf(stderr, "mnemo: rank %d: %s\n", rank, message.c_str());
    std::fflush(stderr);
    if (initialised) MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  bool owner_ = false;
};

/// dist::Communicator over an MPI communicator (default MPI_COMM_WORLD), which it duplicates so
/// that its traffic never matches the program's own messages. Errors on it are returned, not
/// fatal, and thrown as MpiError. Buffers are in host memory.
class MpiCommunicator {
 public:
  using backend = Cpu;

  /// StateError when MPI is not initialised (create a dist::MpiSession first); ValueError when
  /// chunk_elements < 1 or above INT_MAX.
  explicit MpiCommunicator(MPI_Comm comm = MPI_COMM_WORLD, size_t chunk_elements = size_t{1} << 20)
      : chunk_(chunk_elements) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    require<StateError>(initialised != 0, "MpiCommunicator: MPI is not initialised (expected a dist::MpiSession, "
                                          "or MPI_Init, before the communicator)");
    require<ValueError>(chunk_elements >= 1 && chunk_elements <= static_cast<size_t>(INT32_MAX),
                        "MpiCommunicator: chunk_elements = ", chunk_elements, ", expected in [1, 2^31-1]");
    mpi_detail::check(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup");
    mpi_detail::check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    mpi_detail::check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    mpi_detail::check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;
  ~MpiCommunicator() {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&comm_);
  }

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return comm_; }

  void barrier() { mpi_detail::check(MPI_Barrier(comm_), "MPI_Barrier"); }

  /// In place: data[i] = x_0[i] + x_1[i] + ... + x_{R-1}[i], summed in rank order on every rank
  /// (the same bits everywhere; see the top of this file). Every rank must pass the same n.
  template <class T>
  void all_reduce_sum(T* data, size_t n) {
    if (size_ == 1 || n == 0) return;
    const size_t ranks = static_cast<size_t>(size_);
    for (size_t offset = 0; offset < n; offset += chunk_) {
      const size_t count = std::min(chunk_, n - offset);
      std::vector<T>& gathered = scratch<T>();
      gathered.resize(ranks * count);
      mpi_detail::check(MPI_Allgather(data + offset, static_cast<int>(count), mpi_detail::datatype<T>(), gathered.data(),
                                      static_cast<int>(count), mpi_detail::datatype<T>(), comm_),
                        "MPI_Allgather");
      T* out = data + offset;
      std::copy(gathered.begin(), gathered.begin() + static_cast<std::ptrdiff_t>(count), out);
      for (size_t r = 1; r < ranks; ++r) {  // rank order: ((x_0 + x_1) + x_2) + ...
        const T* x = gathered.data() + r * count;
        for (size_t i = 0; i < count; ++i) out[i] += x[i];
      }
    }
  }

  /// A non-blocking all_reduce_sum in flight (start_all_reduce_sum). Its buffer must stay
  /// untouched until finish_all_reduce_sum.
  template <class T>
  struct PendingSum {
    T* data = nullptr;
    size_t n = 0;
    std::vector<T> gathered;            // rank r's chunk c at c·R·chunk + r·count
    std::vector<MPI_Request> requests;  // one MPI_Iallgather per chunk
  };

  /// Starts all_reduce_sum(data, n) without waiting (MPI_Iallgather per chunk); the sum lands in
  /// data at finish_all_reduce_sum, with the same bits as all_reduce_sum. Every rank must start
  /// its reductions in the same order (MPI matches collectives by order).
  template <class T>
  PendingSum<T> start_all_reduce_sum(T* data, size_t n) {
    PendingSum<T> p{data, n, {}, {}};
    if (size_ == 1 || n == 0) return p;
    const size_t ranks = static_cast<size_t>(size_);
    p.gathered.resize(ranks * n);
    for (size_t offset = 0; offset < n; offset += chunk_) {
      const size_t count = std::min(chunk_, n - offset);
      p.requests.push_back(MPI_REQUEST_NULL);
      mpi_detail::check(MPI_Iallgather(data + offset, static_cast<int>(count), mpi_detail::datatype<T>(),
                                       p.gathered.data() + ranks * offset, static_cast<int>(count),
                                       mpi_detail::datatype<T>(), comm_, &p.requests.back()),
                        "MPI_Iallgather");
    }
    return p;
  }

  /// Lets MPI progress the transfers of `p` (MPI_Testall) without waiting for them.
  template <class T>
  void progress(PendingSum<T>& p) {
    if (p.requests.empty()) return;
    int done = 0;
    mpi_detail::check(MPI_Testall(static_cast<int>(p.requests.size()), p.requests.data(), &done, MPI_STATUSES_IGNORE),
                      "MPI_Testall");
  }

  /// Waits for `p` and writes the rank-order sum into its buffer (the bits of all_reduce_sum).
  template <class T>
  void finish_all_reduce_sum(PendingSum<T>& p) {
    if (p.requests.empty()) return;
    mpi_detail::check(MPI_Waitall(static_cast<int>(p.requests.size()), p.requests.data(), MPI_STATUSES_IGNORE),
                      "MPI_Waitall");
    p.requests.clear();
    const size_t ranks = static_cast<size_t>(size_);
    for (size_t offset = 0; offset < p.n; offset += chunk_) {
      const size_t count = std::min(chunk_, p.n - offset);
      const T* block = p.gathered.data() + ranks * offset;
      T* out = p.data + offset;
      std::copy(block, block + count, out);
      for (size_t r = 1; r < ranks; ++r) {  // rank order, as all_reduce_sum
        const T* x = block + r * count;
        for (size_t i = 0; i < count; ++i) out[i] += x[i];
      }
    }
    p.gathered = {};
  }

  /// In place: every rank's n elements become rank `root`'s. ValueError unless root is a rank.
  template <class T>
  void broadcast(T* data, size_t n, int root) {
    require<ValueError>(root >= 0 && root < size_, "MpiCommunicator::broadcast: root = ", root, ", expected a rank in [0, ",
                        size_, ")");
    for (size_t offset = 0; offset < n; offset += chunk_) {
      const size_t count = std::min(chunk_, n - offset);
      mpi_detail::check(MPI_Bcast(data + offset, static_cast<int>(count), mpi_detail::datatype<T>(), root, comm_),
                        "MPI_Bcast");
    }
  }

 private:
  template <class T>
  std::vector<T>& scratch() {
    if constexpr (std::is_same_v<T, float>) return scratch_f_;
    else return scratch_d_;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  size_t chunk_;
  std::vector<float> scratch_f_;
  std::vector<double> scratch_d_;
};

static_assert(Communicator<MpiCommunicator>);
static_assert(NonBlockingSum<MpiCommunicator, float> && NonBlockingSum<MpiCommunicator, double>);

}  // namespace mnemo::dist
