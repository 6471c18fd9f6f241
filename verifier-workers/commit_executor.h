// The worker's commit thread: one long-lived thread that runs one job at a
// time (a batch's CommitBatch), so batch N commits while the loop thread
// loads and verifies batch N+1 (instead of a thread started per batch).
//
// Contract: Submit() only when Idle(); the job then owns what it touches
// until Idle() is true or Wait() returned, which also publishes its writes
// to the caller (the mutex orders them). The destructor waits for the job in
// flight, then joins the thread.
//
// Thread-safety: Submit() and Wait() from one thread (the loop thread);
// Idle() from any thread. mu_ guards job_, busy_ and stop_.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace attest::worker {

class CommitExecutor {
 public:
  CommitExecutor();
  ~CommitExecutor();
  CommitExecutor(const CommitExecutor&) = delete;
  CommitExecutor& operator=(const CommitExecutor&) = delete;

  // Runs `job` on the commit thread. Requires Idle(). The job must not throw.
  void Submit(std::function<void()> job);
  // No job submitted, or the last one finished.
  bool Idle() const;
  // Blocks until Idle().
  void Wait();

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;  // a job arrived, one finished, or stop
  std::function<void()> job_;   // the job to run (empty while it runs or none)
  bool busy_ = false;           // a job submitted and not finished
  bool stop_ = false;
  std::thread thread_;  // last: started after the members above
};

}  // namespace attest::worker
