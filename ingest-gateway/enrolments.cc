#include "ingest-gateway/enrolments.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "common/db/connection.h"
#include "ingest-gateway/errors.h"

namespace attest::gateway {
namespace {

constexpr char kStatement[] = "gateway_enrolment";

// One pool thread's connection with the statement prepared.
Result<std::unique_ptr<db::Connection>> Connect(const std::string& conninfo) {
  auto conn = db::Connection::Open(conninfo);
  if (!conn) return conn.error();
  auto c = std::make_unique<db::Connection>(std::move(conn).value());
  auto prepared = db::Guard("prepare enrolment lookup",
                            [&] { c->raw().prepare(kStatement, EnrolmentStore::kLookupSql); });
  if (!prepared) return prepared.error();
  return c;
}

std::optional<int64_t> OptionalInt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>();
}

}  // namespace

const char* const EnrolmentStore::kLookupSql =
    "SELECT r.state::text, e.agent_id IS NOT NULL, e.state::text, e.interval_seconds, "
    "(extract(epoch FROM e.last_attestation_at) * 1000)::bigint, e.ima_offset, "
    "e.boot_log_requested, (extract(epoch FROM e.boot_time) * 1000)::bigint, "
    "coalesce(e.state_reason = 'ima.catching_up', false) "
    "FROM registrations r LEFT JOIN enrolments e ON e.agent_id = r.agent_id "
    "WHERE r.agent_id = $1::uuid";

EnrolmentStore::EnrolmentStore(std::string conninfo, int pool_size, size_t max_queue)
    : conninfo_(std::move(conninfo)), max_queue_(max_queue) {
  for (int i = 0; i < std::max(1, pool_size); ++i) threads_.emplace_back([this] { Run(); });
}

EnrolmentStore::~EnrolmentStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  for (auto& task : queue_) {
    task.callback(MakeError(errc::unavailable, "enrolment lookup: gateway is stopping"));
  }
}

bool EnrolmentStore::Lookup(std::string uuid, Callback callback) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(Task{std::move(uuid), std::move(callback)});
  }
  cv_.notify_one();
  return true;
}

size_t EnrolmentStore::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void EnrolmentStore::Run() {
  std::unique_ptr<db::Connection> conn;
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!conn || !conn->is_open()) {
      auto c = Connect(conninfo_);
      if (!c) {
        spdlog::warn("gateway: database unreachable: {}", c.error().message);
        task.callback(MakeError(errc::unavailable, "database unreachable"));
        continue;
      }
      conn = std::move(c).value();
    }
    auto row = db::Guard("enrolment lookup", [&]() -> std::optional<EnrolmentRow> {
      pqxx::nontransaction tx(conn->raw());
      pqxx::result r = tx.exec_prepared(kStatement, task.uuid);
      if (r.empty()) return std::nullopt;
      const pqxx::row& f = r[0];
      EnrolmentRow row;
      row.registration_state = f[0].as<std::string>();
      row.enrolled = f[1].as<bool>();
      if (row.enrolled) {
        row.state = f[2].as<std::string>();
        row.interval_seconds = f[3].as<int32_t>();
        row.last_attestation_ms = OptionalInt(f[4]);
        row.ima_offset = f[5].as<uint64_t>();
        row.boot_log_requested = f[6].as<bool>();
        row.boot_time_ms = OptionalInt(f[7]);
        row.ima_catching_up = f[8].as<bool>();
      }
      return row;
    });
    if (!row) {
      spdlog::warn("gateway: {}", row.error().message);
      // A broken connection is reopened for the next lookup.
      if (row.error().code == db::errc::connection_failed) conn.reset();
      task.callback(MakeError(errc::unavailable, "database lookup failed"));
      continue;
    }
    task.callback(std::move(row).value());
  }
}

}  // namespace attest::gateway
