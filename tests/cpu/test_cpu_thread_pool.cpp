// mnemo's CPU thread pool (backend/cpu/thread_pool.hpp): every task runs exactly once, over many
// consecutive jobs (workers asleep and spinning), from two calling threads at once, with nested
// loops, and after a task threw; it counts the jobs it shares; parallel_for covers its range
// exactly once with any thread count.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mnemo/backend/cpu/thread_pool.hpp"
#include "support/testing.hpp"

using namespace mnemo;

namespace {

class PoolThreads {
 public:
  explicit PoolThreads(int n) : previous_(cpu::num_threads()) { cpu::set_num_threads(n); }
  ~PoolThreads() { cpu::set_num_threads(previous_); }
  PoolThreads(const PoolThreads&) = delete;
  PoolThreads& operator=(const PoolThreads&) = delete;

 private:
  int previous_;
};

/// Runs one job of `tasks` tasks; true when each ran exactly once.
bool each_task_once(int64_t tasks) {
  std::vector<std::atomic<int>> runs(static_cast<size_t>(tasks));
  cpu::ThreadPool::instance().run(tasks, [&](int64_t i) { runs[size_t(i)].fetch_add(1); });
  for (auto& r : runs)
    if (r.load() != 1) return false;
  return true;
}

}  // namespace

TEST_CASE("thread pool runs every task exactly once over many jobs", "[cpu][thread_pool]") {
  for (int threads : {1, 2, 3, 5}) {
    PoolThreads scope(threads);
    REQUIRE(cpu::num_threads() == threads);
    int failures = 0;
    for (int job = 0; job < 2000; ++job)
      if (!each_task_once(1 + job % 13)) ++failures;
    // Gaps longer than the spin: the workers sleep and must be woken.
    for (int job = 0; job < 20; ++job) {
      std::this_thread::sleep_for(std::chrono::microseconds(300));
      if (!each_task_once(7)) ++failures;
    }
    INFO("threads " << threads);
    CHECK(failures == 0);
  }
}

TEST_CASE("thread pool uses more than one thread when asked", "[cpu][thread_pool]") {
  PoolThreads scope(2);
  // Each task waits (bounded) until two distinct threads have entered: with a worker this
  // happens at once; a serial pool would time out and leave `distinct` at 1.
  std::atomic<int> entered{0};
  std::atomic<bool> two_seen{false};
  cpu::ThreadPool::instance().run(2, [&](int64_t) {
    entered.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (entered.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    if (entered.load() == 2) two_seen.store(true);
  });
  CHECK(two_seen.load());
}

TEST_CASE("thread pool serves two calling threads and nested loops", "[cpu][thread_pool]") {
  PoolThreads scope(2);
  std::atomic<int> failures{0};
  auto caller = [&] {
    for (int job = 0; job < 500; ++job) {
      // A parallel_for inside a task runs serially on that task's thread and still covers its range.
      std::vector<std::atomic<int>> cells(64 * 40);
      cpu::parallel_for(64, cpu::kParallelWork, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          cpu::parallel_for(40, cpu::kParallelWork, [&](int64_t b2, int64_t e2) {
            for (int64_t j = b2; j < e2; ++j) cells[size_t(i * 40 + j)].fetch_add(1);
          });
      });
      for (auto& c : cells)
        if (c.load() != 1) failures.fetch_add(1);
    }
  };
  std::thread other(caller);
  caller();
  other.join();
  CHECK(failures.load() == 0);
}

TEST_CASE("thread pool rethrows a task's exception and stays usable", "[cpu][thread_pool]") {
  PoolThreads scope(2);
  std::atomic<int> ran{0};
  CHECK_THROWS_AS(cpu::ThreadPool::instance().run(8,
                                                  [&](int64_t i) {
                                                    ran.fetch_add(1);
                                                    if (i == 5) throw std::runtime_error("task 5");
                                                  }),
                  std::runtime_error);
  CHECK(ran.load() == 8);  // the other tasks still ran
  CHECK(each_task_once(9));
}

TEST_CASE("thread pool counts the jobs it shares with its workers", "[cpu][thread_pool]") {
  auto& pool = cpu::ThreadPool::instance();
  auto jobs_during = [&](auto&& work) {
    const uint64_t before = cpu::parallel_jobs();
    work();
    return cpu::parallel_jobs() - before;
  };
  PoolThreads two(2);
  CHECK(jobs_during([&] { pool.run(4, [](int64_t) {}); }) == 1);
  CHECK(jobs_during([&] { pool.run(1, [](int64_t) {}); }) == 0);  // one task: nothing to share
  // A loop inside a task runs serially: the outer job is the only one.
  CHECK(jobs_during([&] { pool.run(2, [&](int64_t) { pool.run(3, [](int64_t) {}); }); }) == 1);
  // parallel_for shares only loops worth at least kParallelWork.
  CHECK(jobs_during([] { cpu::parallel_for(64, cpu::kParallelWork / 64 - 1, [](int64_t, int64_t) {}); }) == 0);
  CHECK(jobs_during([] { cpu::parallel_for(64, cpu::kParallelWork / 64, [](int64_t, int64_t) {}); }) == 1);
  PoolThreads one(1);
  CHECK(jobs_during([&] { pool.run(4, [](int64_t) {}); }) == 0);
}

TEST_CASE("parallel_for covers its range once for any length and thread count", "[cpu][thread_pool]") {
  for (int threads : {1, 2, 3})
    for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{100}, int64_t{1000}}) {
      PoolThreads scope(threads);
      std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
      cpu::parallel_for(n, cpu::kParallelWork, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) seen[size_t(i)].fetch_add(1);
      });
      int wrong = 0;
      for (auto& s : seen) wrong += s.load() != 1;
      INFO("threads " << threads << ", n " << n);
      CHECK(wrong == 0);
    }
}
