// A bounded pool of PostgreSQL workers: the one way services run database
// work off their I/O threads (the registrar's handlers, the gateway's
// enrolment lookups), so a slow or unreachable database never blocks an
// event loop and never grows memory without bound.
//
// `connections` threads each own one Connection, opened lazily on the first
// job and again after it broke. Jobs run in FIFO order on the first free
// thread and get Result<Connection*>: a live connection, or the typed error
// that stopped the pool from providing one. The contract:
//
//   Bound      at most `queue_limit` jobs wait; Submit() never blocks and
//              refuses the next one with errc::pool_full (callers answer 503).
//   Timeout    a job that waited longer than `max_wait` (0: no limit) for a
//              thread runs with errc::pool_timeout instead of a connection.
//   No server  a failed connect or `prepare` gives that job the error
//              (errc::connection_failed, ...) and the next job tries again:
//              an outage is reported per job, the queue never stalls.
//   Broken     a connection that is closed after a job, or whose job threw,
//              is discarded and reopened for the next job.
//   Stop       Stop() refuses new jobs (errc::pool_stopped), then, per
//              `on_stop`, runs the queued jobs or hands them pool_stopped,
//              and joins the threads.
//
// `prepare` runs once on each new connection (prepared statements); jobs
// must not keep the Connection beyond their call.
//
// Thread-safety: Submit() and queued() from any thread; Stop() (or the
// destructor) once, not from a job. The clock must outlive the pool.
#pragma once

#include <pqxx/pqxx>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/base/clock.h"
#include "common/base/result.h"
#include "common/db/connection.h"

namespace attest::db {

class Pool {
 public:
  using Job = std::function<void(Result<Connection*> conn)>;
  using Prepare = std::function<void(pqxx::connection&)>;

  enum class OnStop {
    kRunQueued,   // queued jobs still run (with a connection if one can be had)
    kFailQueued,  // queued jobs get errc::pool_stopped without running SQL
  };

  struct Options {
    std::string conninfo;
    int connections = 1;                                 // threads, one connection each; at least 1
    size_t queue_limit = 64;                             // jobs waiting for a thread
    Clock::Duration max_wait = Clock::Duration::zero();  // zero: wait as long as it takes
    Prepare prepare;                                     // may be empty
    OnStop on_stop = OnStop::kRunQueued;
    std::string name = "database pool";  // prefix of log lines
  };

  Pool(Options options, const Clock& clock);
  explicit Pool(Options options) : Pool(std::move(options), system_clock_) {}
  ~Pool();  // Stop()
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Queues `job`; errc::pool_full or errc::pool_stopped (job not run) otherwise.
  Result<void> Submit(Job job);
  void Stop();
  size_t queued() const;

 private:
  struct Queued {
    Job job;
    Clock::MonotonicTime since;
  };
  void Work();
  // Opens `conn` if it is not open; the error of opening or preparing otherwise.
  Result<void> EnsureConnected(std::unique_ptr<Connection>& conn);

  SystemClock system_clock_;
  const Options options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;  // guarded by mu_
  bool stopping_ = false;     // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace attest::db
