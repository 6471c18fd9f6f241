#include "verifier-workers/pool.h"

#include <algorithm>

namespace attest::worker {

ThreadPool::ThreadPool(int threads) {
  // The caller's thread helps in RunAll, so n threads of parallelism need n-1 helpers.
  for (int i = 1; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool ThreadPool::TakeAndRun(std::unique_lock<std::mutex>& lock) {
  if (jobs_ == nullptr || next_ >= jobs_->size()) return false;
  // A few jobs per trip through the mutex: one at a time, the threads took
  // and contended on it once per agent (2,000 times a batch).
  const size_t first = next_;
  const size_t n = std::min(chunk_, jobs_->size() - first);
  next_ += n;
  std::vector<std::function<void()>>& jobs = *jobs_;
  lock.unlock();
  for (size_t i = first; i < first + n; ++i) jobs[i]();
  lock.lock();
  remaining_ -= n;
  if (remaining_ == 0) done_cv_.notify_all();
  return true;
}

void ThreadPool::Work() {
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stop_ || (jobs_ && next_ < jobs_->size()); });
    if (stop_) return;
    TakeAndRun(lock);
  }
}

void ThreadPool::RunAll(std::vector<std::function<void()>>& jobs) {
  if (jobs.empty()) return;
  std::unique_lock lock(mu_);
  jobs_ = &jobs;
  next_ = 0;
  // About eight chunks per thread: few lock trips, still balanced.
  chunk_ = std::max<size_t>(1, jobs.size() / ((threads_.size() + 1) * 8));
  remaining_ = jobs.size();
  work_cv_.notify_all();
  while (TakeAndRun(lock)) {
  }
  done_cv_.wait(lock, [this] { return remaining_ == 0; });
  jobs_ = nullptr;
}

}  // namespace attest::worker
