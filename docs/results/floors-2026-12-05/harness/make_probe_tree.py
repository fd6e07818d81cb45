#!/usr/bin/env python3
"""Copies include/ to DEST and adds two probes used for docs/results/floors-2026-12-05:
   - the time the calling (main) thread spends in BackendTraits<Cpu>::gemm per step;
   - per parallel_for call site (template instantiation): forks per step and wall time per step;
   - per job of the pool: the caller's time in its own tasks, its wait for the workers after them,
     and the share of the tasks it ran.
Usage: make_probe_tree.py REPO DEST; then build probe_step.cpp against DEST/include."""
import shutil, sys
repo, dest = sys.argv[1], sys.argv[2]
shutil.copytree(f"{repo}/include", f"{dest}/include")
p = f"{dest}/include/mnemo/backend/cpu.hpp"
s = open(p).read()
old = """    } else {
      // Few rows (the streaming path): the unpacked small-matrix kernel, when it applies."""
new = """    } else {
      const bool probe = ::gemm_probe_on && std::this_thread::get_id() == ::gemm_probe_main;
      const auto t0 = std::chrono::steady_clock::now();
      struct Done { bool probe; std::chrono::steady_clock::time_point t0; ~Done() { if (probe) {
        ::gemm_probe_ns += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
        ++::gemm_probe_calls; } } } done{probe, t0};
      // Few rows (the streaming path): the unpacked small-matrix kernel, when it applies."""
assert old in s
s = s.replace(old, new).replace("#pragma once", "#pragma once\n#include <chrono>\n#include <thread>\n"
    "inline double gemm_probe_ns = 0; inline long gemm_probe_calls = 0; inline bool gemm_probe_on = false;\n"
    "inline std::thread::id gemm_probe_main = std::this_thread::get_id();", 1)
open(p, "w").write(s)
p = f"{dest}/include/mnemo/backend/cpu/parallel.hpp"
s = open(p).read()
s = s.replace("#include <cstdint>\n", "#include <cstdint>\n#include <chrono>\n#include <map>\n"
    "inline std::map<const char*, std::pair<long, double>> fork_sites; inline bool fork_probe_on = false;\n", 1)
old = """    ThreadPool::instance().run(chunks, chunk);
#endif"""
new = """    const auto t0 = std::chrono::steady_clock::now();
    ThreadPool::instance().run(chunks, chunk);
    if (fork_probe_on) {
      auto& e = fork_sites[__PRETTY_FUNCTION__];
      ++e.first;
      e.second += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    }
#endif"""
assert old in s
open(p, "w").write(s.replace(old, new))
p = f"{dest}/include/mnemo/backend/cpu/thread_pool.hpp"
s = open(p).read()
s = s.replace("#pragma once", "#pragma once\n#include <chrono>\ninline double pool_wait_us = 0, pool_main_us = 0;\n"
              "inline long pool_jobs = 0, pool_main_tasks = 0, pool_tasks = 0;\ninline bool pool_probe_on = false;", 1)
old = """    in_task_flag() = true;
    work();
    in_task_flag() = false;

    generation_.store(open + 1);  // even: closed; no worker enters from now on
    wait_for_workers_to_leave();"""
new = """    const auto t0 = std::chrono::steady_clock::now();
    in_task_flag() = true;
    int64_t mine = 0;
    for (int64_t i; (i = next_.fetch_add(1, std::memory_order_relaxed)) < tasks_;) {
      ++mine;
      try {
        invoke_(context_, i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
    in_task_flag() = false;
    const auto t1 = std::chrono::steady_clock::now();
    generation_.store(open + 1);  // even: closed; no worker enters from now on
    wait_for_workers_to_leave();
    if (pool_probe_on) {
      pool_main_us += std::chrono::duration<double, std::micro>(t1 - t0).count();
      pool_wait_us += std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t1).count();
      ++pool_jobs, pool_main_tasks += mine, pool_tasks += tasks;
    }"""
assert old in s
open(p, "w").write(s.replace(old, new))
