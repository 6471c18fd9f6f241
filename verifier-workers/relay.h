// The outbox relay: publishes committed outbox rows to Kafka (idempotent
// producer, key = agent UUID, content-type header) and deletes each row only
// after its delivery report. Rows are published by the worker that owns
// their evidence partition: right after the batch commits (Publish), and on
// assignment the leftovers of a newly owned partition (Publish of
// LoadOutbox). A crash between commit and publish therefore delays a verdict
// but never loses it; a crash between publish and delete republishes it
// (consumers deduplicate on (agent, sequence)).
//
// Its thread deletes delivered rows in batches (own connection) and rescans
// the owned partitions for rows whose delivery failed, to publish them again.
//
// A signed verdict is stored as a SignedVerdict row (signed in the
// verification transaction, so the database is never a signing oracle) and
// published as the verdict value plus signature headers (ToKafkaRecord).
//
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/store_types.h"

namespace attest::db {
class Connection;
}

namespace attest::worker {

// What goes to Kafka for an outbox row: `record` is rewritten in place when
// it is a SignedVerdict row (payload = the verdict value, content type =
// the value's) and the headers are returned: content-type, plus
// attest-sig (base64), attest-sig-alg and attest-key-id for a signed
// verdict. errc::bad_input for a SignedVerdict row that does not parse.
Result<std::vector<kafka::Header>> ToKafkaRecord(OutboxRecord& record);

class OutboxRelay {
 public:
  OutboxRelay(kafka::Producer* producer, std::string conninfo, metrics::Registry* registry);
  ~OutboxRelay();  // Stop()
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  void Start();
  // Waits up to `drain` for deliveries and their deletes, then stops.
  void Stop(std::chrono::milliseconds drain = std::chrono::seconds(10));

  // Marks ids about to be committed, so a rescan does not publish them
  // before the committer does; Release() them if the commit fails.
  void Reserve(const std::vector<int64_t>& ids);
  void Release(const std::vector<int64_t>& ids);
  // Publishes rows (in order). Ids already in flight are skipped, unless
  // they were Reserve()d by the caller.
  void Publish(std::vector<StoredOutbox> rows);
  void SetOwned(std::set<int32_t> partitions);

  // Rows published or reserved and not yet deleted.
  size_t InFlight() const;
  // worker_outbox_depth: InFlight() plus rows whose delivery failed and that
  // wait for the next rescan. Kept in memory: a count(*) over the outbox,
  // full of just-deleted rows under load, took 53 ms every second.
  size_t Depth() const;
  // Delivered-and-deleted count (tests).
  uint64_t Deleted() const { return deleted_.load(); }

 private:
  void Loop();
  void Delivered(int64_t id, bool ok);
  void Rescan(db::Connection& conn);

  kafka::Producer* producer_;
  const std::string conninfo_;
  metrics::Counter* published_ = nullptr;
  metrics::Counter* failed_ = nullptr;
  metrics::Gauge* depth_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<int64_t> inflight_;  // published or reserved, not deleted yet
  std::set<int64_t> reserved_;  // subset: reserved, not published yet
  std::vector<int64_t> to_delete_;
  std::set<int32_t> owned_;
  bool failures_ = false;
  size_t failed_waiting_ = 0;  // failed deliveries not yet found again by a rescan
  bool stop_ = false;
  std::atomic<uint64_t> deleted_{0};
  std::thread thread_;
};

}  // namespace attest::worker
