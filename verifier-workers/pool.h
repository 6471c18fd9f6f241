// A fixed pool of verification threads. RunAll() hands a set of independent
// jobs (one per agent: an agent's evidence stays in order inside its job) to
// the threads and blocks until every job ran.
//
// Thread-safety: RunAll() from one thread at a time (the worker's loop).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace attest::worker {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs every job (the calling thread helps), returns when all finished.
  // Jobs must not throw.
  void RunAll(std::vector<std::function<void()>>& jobs);

 private:
  void Work();
  bool TakeAndRun(std::unique_lock<std::mutex>& lock);

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::vector<std::function<void()>>* jobs_ = nullptr;
  size_t next_ = 0;
  size_t chunk_ = 1;
  size_t remaining_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace attest::worker
