// A batch of evidence records between its poll and its post-commit work,
// and the commit stage that runs on the commit thread.
//
// Life of a batch (the worker's pipeline, docs/worker.md):
//   1. the loop thread builds it from polled messages (one Record each) and
//      the partitions' claims (one PartitionStep per partition);
//   2. BatchPreparer (batch_prepare.h) opens its transaction, loads its
//      agents FOR UPDATE and verifies its records on the thread pool;
//   3. CommitBatch writes the results, advances the offsets (fenced) and
//      commits, on the commit thread (commit_executor.h);
//   4. the loop thread completes it: positions, caches, metrics, relay; or,
//      when the commit failed, puts its messages back in front of pending.
// Ownership: the loop thread, except while the commit executor runs
// CommitBatch on it (the loop thread then touches nothing of it until
// CommitExecutor::Wait() or Idle() says it is done).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "common/kafka/consumer.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/store_session.h"

namespace attest::worker {

class OutboxRelay;

// What became of a record. Set once: kBadKey when the batch is built, the
// others by its agent's verification job; kNotEnrolled stays when no
// enrolled agent row was found for its key.
enum class Disposition : uint8_t {
  kNotEnrolled,  // no verdict: its key names no enrolled agent
  kBadKey,       // no verdict: its key is not a UUID
  kVerdict,      // outcome.result is set: history, verdict, maybe a revocation
  kCopy,         // no verdict: a second copy of the evidence verified last
  kNoVerdict,    // no verdict could be built (outcome.error says why)
};
// The worker_evidence_skipped_total reason of a record without a verdict.
const char* SkipReason(Disposition d);

// One evidence record: the message, its agent and its outcome. A record is
// written by one verification job only (its agent's), so records of
// different agents are verified concurrently without a lock.
struct Record {
  kafka::Message msg;
  std::string agent_id;  // lower-case UUID; empty when the key is not a UUID
  Disposition disposition = Disposition::kNotEnrolled;
  Outcome outcome;
};

// What a batch does to one evidence partition.
struct PartitionStep {
  Claim expected;                  // the claim the batch advances from (dispatched position, epoch)
  int64_t next = 0;                // past the batch's last record of the partition
  std::optional<int64_t> log_end;  // high watermark to record with the offset
  // The Kafka timestamp of the batch's last record, if it has one.
  std::optional<Clock::time_point> last_time;
};

struct Batch {
  std::vector<Record> records;                  // poll order (per partition: offset order)
  size_t session_index = 0;                     // the StorePool session its transaction is on
  std::unique_ptr<StoreTransaction> tx;         // open from load until commit or drop
  std::chrono::steady_clock::time_point t0;     // prepared at (the loop's Clock::Monotonic)
  std::map<std::string, AgentRow> rows;         // enrolled agents of the batch, by id
  std::map<int32_t, PartitionStep> partitions;  // in partition order
  // AKs parsed by the verification jobs, for the cache once committed.
  std::vector<std::pair<std::string, std::shared_ptr<const verifier::AttestationKey>>> new_aks;

  // Set by CommitBatch.
  std::vector<int64_t> outbox_ids;  // in the order of the records' outbox rows
  std::optional<int32_t> fenced_partition;
  std::optional<Error> error;
  bool committed = false;

  // Moves the messages out (a batch that is given back).
  std::vector<kafka::Message> TakeMessages();
};

// Builds a batch of `msgs`: one Record each, kBadKey for a key that is not a
// UUID, and per partition the offset past its last record and the time of
// that record (a timestamp past `now` counts as now). The caller fills
// PartitionStep::expected and log_end, and t0.
std::unique_ptr<Batch> NewBatch(std::vector<kafka::Message> msgs, Clock::time_point now);

// Where a batch commits: the offsets' consumer group and topic, the owner
// recorded, and the relay that reserves the outbox ids until the commit.
struct CommitTarget {
  std::string group_id;
  std::string evidence_topic;
  std::string worker_id;
  OutboxRelay* relay = nullptr;
};

// The commit stage (commit thread): writes the dirty rows, the history and
// outbox rows of the records with a verdict, advances every partition's
// offset from its expected claim (errc::fenced sets fenced_partition) and
// commits. Sets committed or error; the transaction is closed either way
// (rolled back unless committed) and the reserved outbox ids released on
// failure. Touches only `b` and the relay (thread-safe).
void CommitBatch(Batch& b, const CommitTarget& target);

}  // namespace attest::worker
