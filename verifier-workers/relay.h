// The outbox relay: publishes committed outbox rows to Kafka (idempotent
// producer, key = agent UUID, content-type header) and deletes each row only
// after its delivery report. Rows are published by the worker that owns
// their evidence partition: right after the batch commits (Publish), and on
// assignment the leftovers of a newly owned partition (Publish of
// LoadOutbox). A crash between commit and publish therefore delays a verdict
// but never loses it; a crash between publish and delete republishes it
// (consumers deduplicate on (agent, sequence)).
//
// Its thread deletes delivered rows in batches (own connection, reopened
// 200 ms after a failure) every 50 ms or at 500 rows, and rescans the owned
// partitions for rows whose delivery failed, to publish them again: 2 s
// after the last scan when a delivery failed, else every 30 s. All of these
// times are the Clock's, so tests drive them with a ManualClock; Kafka and
// the connection are behind OutboxSink and OutboxStore.
//
// A signed verdict is stored as a SignedVerdict row (signed in the
// verification transaction, so the database is never a signing oracle) and
// published as the verdict value plus signature headers (ToKafkaRecord).
//
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/base/clock.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/store_types.h"

namespace attest::worker {

// What goes to Kafka for an outbox row: `record` is rewritten in place when
// it is a SignedVerdict row (payload = the verdict value, content type =
// the value's) and the headers are returned: content-type, plus
// attest-sig (base64), attest-sig-alg and attest-key-id for a signed
// verdict. errc::bad_input for a SignedVerdict row that does not parse.
Result<std::vector<kafka::Header>> ToKafkaRecord(OutboxRecord& record);

// Where the relay's records go: kafka::Producer::Produce's contract (the
// callback runs once, later, unless Produce fails). Any thread.
class OutboxSink {
 public:
  virtual ~OutboxSink() = default;
  virtual Result<void> Produce(std::string_view topic, std::string_view key, std::string_view value,
                               const std::vector<kafka::Header>& headers,
                               kafka::DeliveryCallback on_delivery) = 0;
};

// The relay's own database connection (the relay's thread only): the outbox
// rows of a partition after an id, and deleting delivered rows, each in a
// transaction of its own.
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;
  // False once the connection broke (the relay then opens another).
  virtual bool is_open() const = 0;
  virtual Result<std::vector<StoredOutbox>> LoadOutbox(int32_t partition, int64_t after_id,
                                                       int limit) = 0;
  virtual Result<void> DeleteOutbox(const std::vector<int64_t>& ids) = 0;
};
using OutboxStoreOpener = std::function<Result<std::unique_ptr<OutboxStore>>()>;

class OutboxRelay {
 public:
  // Rows to `producer`; deletes and rescans on a PostgreSQL connection of
  // its own to `conninfo`. `producer`, `registry` (may be null) and `clock`
  // must outlive the relay.
  OutboxRelay(kafka::Producer* producer, std::string conninfo, metrics::Registry* registry,
              const attest::Clock& clock);
  // Any sink and store (tests: fakes).
  OutboxRelay(std::unique_ptr<OutboxSink> sink, OutboxStoreOpener open_store,
              metrics::Registry* registry, const attest::Clock& clock);
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
  void Rescan(OutboxStore& store);
  // Waits (mu_ held by `lock`) until `done()` or the clock reaches
  // `deadline`; Wake() makes it check `done()` again.
  template <typename Done>
  void WaitUntil(std::unique_lock<std::mutex>& lock, attest::Clock::MonotonicTime deadline,
                 Done done);
  void Wake();  // mu_ held: the state a waiter checks changed

  const std::unique_ptr<OutboxSink> sink_;
  const OutboxStoreOpener open_store_;
  const attest::Clock& clock_;
  metrics::Counter* published_ = nullptr;
  metrics::Counter* failed_ = nullptr;
  metrics::Gauge* depth_ = nullptr;

  mutable std::mutex mu_;
  std::stop_source wake_;       // requested (and replaced) by Wake()
  std::stop_source stopping_;   // requested by Stop(): ends the reconnect backoff
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
