// mnemo/backend/cpu/thread_pool.hpp — mnemo's own worker threads for its CPU kernels.
//
// Threading policy (docs/architecture.md, "CPU threads"). OpenMP's default wait policy makes an
// idle thread spin for milliseconds; on a machine where another process is busy, a spinning
// thread holds the core its partner needs, and a step made of many small parallel loops ran 40x
// slower than on an idle machine unless the user set OMP_WAIT_POLICY=passive before start-up
// (libgomp reads it once, when it loads, before any code of mnemo's runs). This pool cannot
// collapse that way, whatever the environment:
//   * a task nobody has claimed is run by the calling thread: the caller never waits for a worker
//     to wake up or to be scheduled, only for tasks a worker has already started;
//   * waiting threads spin for at most kSpin, then sleep in the kernel (std::atomic::wait);
//   * one job at a time: a call from a second thread, or from inside a task, runs serially.
// Which task runs on which thread changes from run to run; the tasks and their order within one
// task do not, so results do not depend on timing.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>

namespace mnemo::cpu {

namespace detail {
/// MNEMO_NUM_THREADS, else OMP_NUM_THREADS (its first number), else the hardware's thread count.
inline int default_thread_count() {
  for (const char* name : {"MNEMO_NUM_THREADS", "OMP_NUM_THREADS"}) {
    if (const char* value = std::getenv(name)) {
      char* end = nullptr;
      const long n = std::strtol(value, &end, 10);
      if (end != value && n >= 1) return static_cast<int>(std::min<long>(n, 256));
    }
  }
  const unsigned hardware = std::thread::hardware_concurrency();
  return hardware == 0 ? 1 : static_cast<int>(std::min(hardware, 256u));
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace detail

class ThreadPool {
 public:
  /// How long a waiting thread spins before it sleeps: long enough to bridge the serial gap
  /// between two parallel loops of a step, short enough to cost a busy machine little.
  static constexpr std::chrono::microseconds kSpin{50};
  static constexpr int kMaxThreads = 256;

  /// The process's pool (intentionally leaked: workers may outlive static destructors).
  static ThreadPool& instance() {
    static ThreadPool* pool = new ThreadPool(detail::default_thread_count());
    return *pool;
  }

  /// Threads a job may use, the calling thread included.
  int threads() const { return threads_.load(std::memory_order_relaxed); }
  void set_threads(int n) { threads_.store(std::clamp(n, 1, kMaxThreads), std::memory_order_relaxed); }

  /// Jobs opened to the workers since the process started (each is one fork and one join; a job
  /// that runs serially on its caller is not counted). Benchmarks divide it by the steps they ran.
  uint64_t jobs_shared() const { return jobs_shared_.load(std::memory_order_relaxed); }

  /// True on a worker, and on a caller while it runs tasks: parallel loops there run serially.
  static bool in_task() { return in_task_flag(); }

  /// Calls task(i) once for every i in [0, tasks), on the calling thread and up to threads() - 1
  /// workers; returns when every call has returned. The first exception a task throws is
  /// rethrown here after the others finish.
  template <class Task>
  void run(int64_t tasks, Task&& task) {
    if (tasks <= 0) return;
    const int64_t helpers = std::min<int64_t>(threads() - 1, tasks - 1);
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (helpers <= 0 || in_task() || !busy.owns_lock()) {
      for (int64_t i = 0; i < tasks; ++i) task(i);
      return;
    }
    start_workers(static_cast<int>(helpers));
    jobs_shared_.fetch_add(1, std::memory_order_relaxed);
    invoke_ = [](void* ctx, int64_t i) { (*static_cast<std::remove_reference_t<Task>*>(ctx))(i); };
    context_ = static_cast<void*>(&task);
    tasks_ = tasks;
    helpers_.store(static_cast<int>(helpers), std::memory_order_relaxed);
    next_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    const uint32_t open = generation_.load(std::memory_order_relaxed) + 1;  // odd: a job is open
    generation_.store(open);
    if (sleepers_.load() > 0) generation_.notify_all();

    in_task_flag() = true;
    work();
    in_task_flag() = false;

    generation_.store(open + 1);  // even: closed; no worker enters from now on
    wait_for_workers_to_leave();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  explicit ThreadPool(int threads) : threads_(std::clamp(threads, 1, kMaxThreads)) {}

  static bool& in_task_flag() {
    thread_local bool flag = false;
    return flag;
  }

  void start_workers(int wanted) {
    while (started_ < wanted) {
      const int index = started_++;
      std::thread([this, index] { worker(index); }).detach();
    }
  }

  /// Claims and runs tasks until none is left.
  void work() {
    for (int64_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) {
      try {
        invoke_(context_, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }

  void worker(int index) {
    in_task_flag() = true;
    uint32_t seen = 0;
    for (;;) {
      const uint32_t g = wait_for_new_generation(seen);
      seen = g;
      if ((g & 1u) == 0 || index >= helpers_.load(std::memory_order_relaxed)) continue;
      // Enter, then check the job is still open (both sequentially consistent): either the caller
      // sees this worker inside, or this worker sees the job closed and leaves.
      inside_.fetch_add(1);
      if (generation_.load() == g) work();
      if (inside_.fetch_sub(1) == 1 && caller_waiting_.load()) inside_.notify_all();
    }
  }

  uint32_t wait_for_new_generation(uint32_t seen) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (int spins = 0;; ++spins) {
      const uint32_t g = generation_.load(std::memory_order_acquire);
      if (g != seen) return g;
      if ((spins & 63) == 63 && std::chrono::steady_clock::now() > until) break;
      detail::cpu_relax();
    }
    sleepers_.fetch_add(1);
    uint32_t g;
    while ((g = generation_.load()) == seen) generation_.wait(seen);
    sleepers_.fetch_sub(1);
    return g;
  }

  void wait_for_workers_to_leave() {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (int spins = 0; inside_.load() != 0; ++spins) {
      if ((spins & 63) == 63 && std::chrono::steady_clock::now() > until) {
        caller_waiting_.store(true);
        for (int v; (v = inside_.load()) != 0;) inside_.wait(v);
        caller_waiting_.store(false);
        return;
      }
      detail::cpu_relax();
    }
  }

  std::atomic<int> threads_;
  std::atomic<uint64_t> jobs_shared_{0};
  std::mutex busy_;  // held by the one caller whose job is open
  int started_ = 0;  // workers started (only the holder of busy_ starts more)

  // The open job; written by its caller before the generation turns odd.
  void (*invoke_)(void*, int64_t) = nullptr;
  void* context_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int> helpers_{0};  // workers 0..helpers-1 take part
  std::atomic<int64_t> next_{0};
  std::mutex error_mutex_;
  std::exception_ptr error_;

  std::atomic<uint32_t> generation_{0};  // odd while a job is open
  std::atomic<int> sleepers_{0};         // workers asleep on generation_
  std::atomic<int> inside_{0};           // workers inside the open job
  std::atomic<bool> caller_waiting_{false};
};

}  // namespace mnemo::cpu
