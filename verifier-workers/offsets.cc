#include "verifier-workers/offsets.h"

#include "common/db/connection.h"
#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

std::string Describe(const OffsetKey& k) {
  return k.group + "/" + k.topic + "[" + std::to_string(k.partition) + "]";
}

Error Fenced(const OffsetKey& k, const std::string& what) {
  return MakeError(errc::fenced, "offsets " + Describe(k) + ": " + what);
}

}  // namespace

void PrepareOffsetStatements(pqxx::connection_base& conn) {
  conn.prepare(
      "off_insert",
      "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset, owner) "
      "VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING");
  conn.prepare("off_claim",
               "UPDATE consumer_offsets SET owner_epoch = owner_epoch + 1, owner = $4 "
               "WHERE consumer_group = $1 AND topic = $2 AND partition = $3 "
               "RETURNING next_offset, owner_epoch");
  // $8 = the log end offset seen (-1: none yet); recorded with the offset so
  // lag per partition is in the database without another round trip.
  conn.prepare("off_advance",
               "UPDATE consumer_offsets SET next_offset = $6, owner = $7, "
               "  log_end_offset = CASE WHEN $8::bigint >= 0 THEN greatest($8::bigint, $6) "
               "    ELSE log_end_offset END, "
               "  log_end_seen_at = CASE WHEN $8::bigint >= 0 THEN now() ELSE log_end_seen_at END "
               "WHERE consumer_group = $1 AND topic = $2 AND partition = $3 "
               "AND next_offset = $4 AND owner_epoch = $5");
  conn.prepare("off_check",
               "SELECT 1 FROM consumer_offsets "
               "WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND owner_epoch = $4 "
               "FOR UPDATE");
}

Result<Claim> ClaimPartition(pqxx::connection_base& conn, const OffsetKey& key,
                             const std::string& owner) {
  auto r = db::Guard("claim " + Describe(key), [&]() -> Claim {
    pqxx::work tx(conn);
    tx.exec_prepared0("off_insert", key.group, key.topic, key.partition, owner);
    auto row = tx.exec_prepared1("off_claim", key.group, key.topic, key.partition, owner);
    Claim c{row[0].as<int64_t>(), row[1].as<int64_t>()};
    tx.commit();
    return c;
  });
  if (!r) return MakeError(errc::database, r.error().message);
  return r;
}

Result<void> AdvanceOffset(pqxx::transaction_base& tx, const OffsetKey& key, const Claim& expected,
                           int64_t next_offset, const std::string& owner,
                           std::optional<int64_t> log_end_offset) {
  auto r = db::Guard("advance " + Describe(key), [&] {
    return tx
        .exec_prepared("off_advance", key.group, key.topic, key.partition, expected.next_offset,
                       expected.epoch, next_offset, owner, log_end_offset.value_or(-1))
        .affected_rows();
  });
  if (!r) return MakeError(errc::database, r.error().message);
  if (*r != 1) {
    return Fenced(key, "expected next_offset " + std::to_string(expected.next_offset) +
                           " at epoch " + std::to_string(expected.epoch) +
                           ": another worker owns the partition");
  }
  return Ok();
}

Result<void> CheckOwner(pqxx::transaction_base& tx, const OffsetKey& key, int64_t epoch) {
  auto r = db::Guard("check owner " + Describe(key), [&] {
    return tx.exec_prepared("off_check", key.group, key.topic, key.partition, epoch).size();
  });
  if (!r) return MakeError(errc::database, r.error().message);
  if (*r != 1) return Fenced(key, "epoch " + std::to_string(epoch) + " no longer owns it");
  return Ok();
}

}  // namespace attest::worker
