// A small pool of worker threads, each owning one PostgreSQL connection,
// that runs the registrar's database work off the HTTP I/O threads, so a slow
// or unreachable database never blocks the event loop.
//
// Jobs are queued (bounded: Submit() refuses when `queue_limit` jobs wait,
// the caller answers 503) and run in FIFO order by the first free worker. A
// worker connects lazily and reconnects after a broken connection; when it
// cannot connect, the job gets the connection error (and answers 503), so a
// database outage is reported per request instead of stalling the queue.
// `prepare` runs on each new connection (prepared statements).
//
// Thread-safety: Submit() from any thread; Stop() once, not from a job.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/base/result.h"
#include "common/db/connection.h"

namespace attest::registrar {

class DbPool {
 public:
  // `conn` is a live connection, or the error of connecting.
  using Job = std::function<void(Result<db::Connection*> conn)>;
  using Prepare = std::function<void(pqxx::connection&)>;

  DbPool(std::string conninfo, int workers, size_t queue_limit, Prepare prepare);
  ~DbPool();  // Stop()
  DbPool(const DbPool&) = delete;
  DbPool& operator=(const DbPool&) = delete;

  // False (job not run) when the queue is full or the pool is stopping.
  bool Submit(Job job);
  // Runs the queued jobs, then joins the workers.
  void Stop();
  size_t queued() const;

 private:
  void Work();

  const std::string conninfo_;
  const size_t queue_limit_;
  const Prepare prepare_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace attest::registrar
