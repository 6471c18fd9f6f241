#include "verifier-workers/pool.h"

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
  auto& job = (*jobs_)[next_++];
  lock.unlock();
  job();
  lock.lock();
  if (--remaining_ == 0) done_cv_.notify_all();
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
  remaining_ = jobs.size();
  work_cv_.notify_all();
  while (TakeAndRun(lock)) {
  }
  done_cv_.wait(lock, [this] { return remaining_ == 0; });
  jobs_ = nullptr;
}

}  // namespace attest::worker
