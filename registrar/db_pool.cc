#include "registrar/db_pool.h"

#include <spdlog/spdlog.h>

#include <optional>

#include "registrar/errors.h"

namespace attest::registrar {

DbPool::DbPool(std::string conninfo, int workers, size_t queue_limit, Prepare prepare)
    : conninfo_(std::move(conninfo)), queue_limit_(queue_limit), prepare_(std::move(prepare)) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Work(); });
}

DbPool::~DbPool() { Stop(); }

bool DbPool::Submit(Job job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= queue_limit_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void DbPool::Stop() {
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
}

size_t DbPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void DbPool::Work() {
  std::optional<db::Connection> conn;
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    if (conn && !conn->is_open()) conn.reset();
    if (!conn) {
      auto opened = db::Connection::Open(conninfo_);
      if (opened) {
        conn.emplace(std::move(opened).value());
        if (prepare_) {
          auto prepared = db::Guard("preparing statements", [&] { prepare_(conn->raw()); });
          if (!prepared) {
            spdlog::error("registrar: {}", prepared.error().ToString());
            conn.reset();
            job(MakeError(errc::unavailable, prepared.error().ToString()));
            continue;
          }
        }
      } else {
        job(MakeError(errc::unavailable, opened.error().ToString()));
        continue;
      }
    }
    try {
      job(&*conn);
    } catch (const std::exception& e) {
      // Jobs translate their own errors; this is a last line of defence.
      spdlog::error("registrar: database job failed: {}", e.what());
      conn.reset();
    }
  }
}

}  // namespace attest::registrar
