#include "ingest-gateway/enrolments.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "common/db/connection.h"
#include "ingest-gateway/errors.h"

namespace attest::gateway {
namespace {

constexpr char kStatement[] = "gateway_enrolment";

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

namespace {

std::optional<EnrolmentRow> ReadRow(db::Connection& conn, const std::string& uuid) {
  pqxx::nontransaction tx(conn.raw());
  pqxx::result r = tx.exec_prepared(kStatement, uuid);
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
}

}  // namespace

EnrolmentStore::EnrolmentStore(std::string conninfo, int pool_size, size_t max_queue)
    : pool_(db::Pool::Options{
          .conninfo = std::move(conninfo),
          .connections = pool_size,
          .queue_limit = max_queue,
          .prepare = [](pqxx::connection& c) { c.prepare(kStatement, kLookupSql); },
          .on_stop = db::Pool::OnStop::kFailQueued,
          .name = "gateway"}) {}

EnrolmentStore::~EnrolmentStore() = default;

bool EnrolmentStore::Lookup(std::string uuid, Callback callback) {
  auto job = [uuid = std::move(uuid),
              callback = std::move(callback)](Result<db::Connection*> conn) {
    if (!conn) {
      if (conn.error().code == db::errc::pool_stopped) {
        callback(MakeError(errc::unavailable, "enrolment lookup: gateway is stopping"));
        return;
      }
      spdlog::warn("gateway: database unreachable: {}", conn.error().message);
      callback(MakeError(errc::unavailable, "database unreachable"));
      return;
    }
    // A connection this breaks is reopened by the pool for the next lookup.
    auto row = db::Guard("enrolment lookup", [&] { return ReadRow(**conn, uuid); });
    if (!row) {
      spdlog::warn("gateway: {}", row.error().message);
      callback(MakeError(errc::unavailable, "database lookup failed"));
      return;
    }
    callback(std::move(row).value());
  };
  return pool_.Submit(std::move(job)).ok();
}

size_t EnrolmentStore::queued() const { return pool_.queued(); }

}  // namespace attest::gateway
