// Consumer offsets in PostgreSQL (consumer_offsets, migrations 005, 009, 011) and
// the fencing of zombie workers.
//
// Protocol, per (group, topic, partition):
//  - Claim (on assignment, own transaction): insert the row if absent
//    (next_offset 0), then increment owner_epoch and take next_offset. The
//    claim waits for a transaction of the previous owner that holds the row
//    lock, so it sees that owner's last commit.
//  - Advance (inside the batch transaction): UPDATE ... SET next_offset = new
//    WHERE next_offset = expected AND owner_epoch = epoch. Zero rows means
//    another worker claimed the partition (or committed) since: errc::fenced,
//    the caller rolls the whole transaction back and drops the partition.
//  - CheckOwner (inside a sweep transaction): SELECT ... FOR UPDATE with the
//    epoch; zero rows is errc::fenced. Holding the row lock to commit keeps a
//    new owner's claim waiting until then.
//
// Thread-safety: functions use only the connection / transaction given; one
// thread per connection.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <optional>
#include <string>

#include "common/base/result.h"
#include "verifier-workers/store_types.h"

namespace attest::worker {

// Prepares the statements on a new connection.
void PrepareOffsetStatements(pqxx::connection_base& conn);

// Claims the partition for `owner` in its own transaction.
Result<Claim> ClaimPartition(pqxx::connection_base& conn, const OffsetKey& key,
                             const std::string& owner);

// Conditional update; errc::fenced when 0 rows matched. Other errors are
// database errors. Never commits or aborts `tx`. `log_end_offset` (the
// partition's high watermark as last seen by the consumer) is recorded in
// the same UPDATE with log_end_seen_at = now() (migration 011), raised to at
// least `next_offset`; nullopt keeps the stored one.
Result<void> AdvanceOffset(pqxx::transaction_base& tx, const OffsetKey& key, const Claim& expected,
                           int64_t next_offset, const std::string& owner,
                           std::optional<int64_t> log_end_offset = std::nullopt);

// Locks the row if `epoch` still owns it; errc::fenced otherwise.
Result<void> CheckOwner(pqxx::transaction_base& tx, const OffsetKey& key, int64_t epoch);

}  // namespace attest::worker
