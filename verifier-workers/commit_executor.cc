#include "verifier-workers/commit_executor.h"

#include <cassert>
#include <utility>

namespace attest::worker {

CommitExecutor::CommitExecutor() : thread_([this] { Loop(); }) {}

CommitExecutor::~CommitExecutor() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return !busy_; });
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CommitExecutor::Submit(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    assert(!busy_);
    job_ = std::move(job);
    busy_ = true;
  }
  cv_.notify_all();
}

bool CommitExecutor::Idle() const {
  std::lock_guard lock(mu_);
  return !busy_;
}

void CommitExecutor::Wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return !busy_; });
}

void CommitExecutor::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || job_; });
    if (stop_) return;
    std::function<void()> job = std::move(job_);
    job_ = nullptr;
    lock.unlock();
    job();
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace attest::worker
