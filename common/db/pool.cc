#include "common/db/pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>

namespace attest::db {

Pool::Pool(Options options, const Clock& clock) : options_(std::move(options)), clock_(clock) {
  for (int i = 0; i < std::max(1, options_.connections); ++i) {
    threads_.emplace_back([this] { Work(); });
  }
}

Pool::~Pool() { Stop(); }

Result<void> Pool::Submit(Job job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return MakeError(errc::pool_stopped, options_.name + ": stopping");
    if (queue_.size() >= options_.queue_limit) {
      return MakeError(errc::pool_full, options_.name + ": work queue is full");
    }
    queue_.push_back(Queued{std::move(job), clock_.Monotonic()});
  }
  cv_.notify_one();
  return Ok();
}

void Pool::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // kFailQueued: the threads left the queue to us.
  std::deque<Queued> left;
  {
    std::lock_guard lock(mu_);
    left.swap(queue_);
  }
  for (auto& q : left) q.job(MakeError(errc::pool_stopped, options_.name + ": stopping"));
}

size_t Pool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

Result<void> Pool::EnsureConnected(std::unique_ptr<Connection>& conn) {
  if (conn && conn->is_open()) return Ok();
  conn.reset();
  auto opened = Connection::Open(options_.conninfo);
  if (!opened) return opened.error();
  auto fresh = std::make_unique<Connection>(std::move(opened).value());
  if (options_.prepare) {
    auto prepared = Guard("preparing statements", [&] { options_.prepare(fresh->raw()); });
    if (!prepared) {
      spdlog::error("{}: {}", options_.name, prepared.error().ToString());
      return prepared.error();
    }
  }
  conn = std::move(fresh);
  return Ok();
}

void Pool::Work() {
  std::unique_ptr<Connection> conn;
  while (true) {
    Queued q;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      if (stopping_ && options_.on_stop == OnStop::kFailQueued) return;
      q = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto waited = clock_.Monotonic() - q.since;
    if (options_.max_wait > Clock::Duration::zero() && waited > options_.max_wait) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(waited).count();
      q.job(MakeError(errc::pool_timeout,
                      options_.name + ": waited " + std::to_string(ms) + " ms for a connection"));
      continue;
    }
    if (auto connected = EnsureConnected(conn); !connected) {
      q.job(connected.error());
      continue;
    }
    try {
      q.job(conn.get());
    } catch (const std::exception& e) {
      // Jobs translate their own errors; this is a last line of defence.
      spdlog::error("{}: database job failed: {}", options_.name, e.what());
      conn.reset();
    }
  }
}

}  // namespace attest::db
