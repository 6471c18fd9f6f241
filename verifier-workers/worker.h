// The verifier worker: one member of the consumer group over
// attestation.evidence. See docs/worker.md for the design; in short:
//  - partitions are claimed in PostgreSQL on assignment (consumer_offsets,
//    owner_epoch) and consumption starts at the stored next_offset;
//  - evidence is batched (count / time), verified on a thread pool (agents
//    in parallel, one agent's evidence in order) and each batch is ONE
//    transaction: state, history, outbox, conditional offset updates;
//  - batches are pipelined over two connections: batch N+1 is loaded (rows
//    locked FOR UPDATE, so an agent of batch N is read after N commits) and
//    verified while batch N writes and commits on a commit thread; N+1 only
//    writes after N committed, and if N fails N+1 is rolled back and both
//    are retried in order;
//  - after commit the outbox relay publishes verdicts / revocations;
//  - every sweep period the agents of the owned partitions past their
//    liveness deadline go OFFLINE (fenced like a batch), where deadlines
//    count from the gateway's received time and are compared with the time
//    through which the partition has been read, not with now: evidence
//    still waiting in a backlog never lets its agent go OFFLINE;
//  - a revoked partition's pending evidence is finished before it is let go,
//    a lost partition's is dropped without writing.
//
// The stages, each a unit with its contract in its header:
//   consumer loop (worker_loop.cc)      poll, close batches on count or time,
//                                        the sweep period, the graceful drain
//   rebalance (worker.cc)               claim, finish or drop partitions
//   batch (batch.h)                     a Record per message, a PartitionStep
//                                        per partition; CommitBatch
//   load + verify (batch_prepare.h)     transaction, rows, AKs, policies,
//                                        verification jobs on the pool
//   commit (commit_executor.h)          one long-lived commit thread
//   sweep (sweep.h)                     OFFLINE verdicts, fenced
//   store (store_session.h)             sessions that own their transactions
//
// Threads and what they own:
//   - the loop thread (Run(), and the rebalance callbacks, called inside
//     Poll/Close): owned_, pending_, batch_started_, inflight_ (except while
//     the commit thread runs CommitBatch on it), the StorePool and the
//     preparer's caches;
//   - the commit thread (commit_): the batch in flight and its session,
//     until CommitExecutor::Idle();
//   - the verification threads (pool_): one agent's row and records each,
//     inside BatchPreparer::Prepare;
//   - the relay's thread: its own connection (relay.h);
//   - any thread: RequestStop(), Owned(), metrics_port(), /healthz.
// owned_mu_ guards owned_snapshot_ only; stop_ and last_loop_ are atomic.
// Time: every read, deadline and wait goes through the Clock given to
// Create (ManualClock in tests), never std::chrono's clocks.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/base/clock.h"
#include "common/base/result.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "common/token/token.h"
#include "verifier-workers/batch.h"
#include "verifier-workers/batch_prepare.h"
#include "verifier-workers/commit_executor.h"
#include "verifier-workers/config.h"
#include "verifier-workers/pool.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/relay.h"
#include "verifier-workers/store_session.h"
#include "verifier-workers/worker_metrics.h"

namespace attest::http {
class Server;
}

namespace attest::worker {

// The consumer as the loop uses it, with kafka::Consumer's contract (the
// rebalance listener is called inside Poll and Close, on the loop thread):
// an interface so that rebalancing is tested with a fake
// (tests/worker/rebalance_test.cc).
class EvidenceConsumer {
 public:
  virtual ~EvidenceConsumer() = default;
  virtual Result<std::vector<kafka::Message>> Poll(std::chrono::milliseconds timeout,
                                                   size_t max_messages) = 0;
  virtual std::optional<kafka::Consumer::Watermarks> CachedWatermarks(const std::string& topic,
                                                                      int32_t partition) const = 0;
  virtual Result<void> Close() = 0;
};

// What the worker talks to; Create(config, registry, clock) makes the real
// ones (PostgreSQL, a Kafka producer and consumer).
struct WorkerIo {
  StorePool::Opener store;                    // the batch sessions
  std::unique_ptr<kafka::Producer> producer;  // the relay's, if it has one (outlives it)
  std::unique_ptr<OutboxRelay> relay;         // not started yet
  // Called once, with the worker as the rebalance listener.
  std::function<Result<std::unique_ptr<EvidenceConsumer>>(kafka::RebalanceListener*)> consumer;
};

class Worker : public kafka::RebalanceListener {
 public:
  // Loads keys, connects to PostgreSQL and Kafka, starts the HTTP listener
  // (when configured). `registry` must outlive the worker.
  // `clock` must outlive the worker too.
  static Result<std::unique_ptr<Worker>> Create(WorkerConfig config, metrics::Registry* registry,
                                                const attest::Clock& clock);
  // The same with the I/O given (tests: fakes).
  static Result<std::unique_ptr<Worker>> Create(WorkerConfig config, metrics::Registry* registry,
                                                const attest::Clock& clock, WorkerIo io);
  ~Worker() override;

  // The loop; returns after RequestStop() (graceful: finish the batch,
  // publish, leave the group) or on a fatal error.
  Result<void> Run();
  void RequestStop() { stop_.store(true); }

  // Partitions owned right now (any thread).
  std::set<int32_t> Owned() const;
  uint16_t metrics_port() const;

  // RebalanceListener (called inside Poll/Close on the loop thread).
  Result<void> OnAssigned(std::vector<kafka::TopicPartition>& partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void OnLost(const std::vector<kafka::TopicPartition>& partitions) override;

 private:
  struct OwnedPartition {
    Claim claim;                     // next_offset = the committed position; epoch = our claim
    int64_t dispatched_next = 0;     // past the batch in flight (== claim.next_offset if none)
    std::optional<int64_t> log_end;  // high watermark last seen (consumer's cache)
    // Kafka timestamp (the gateway's produce time) of the last record this
    // worker committed; nullopt until one of its batches committed a record
    // that has one. The partition is read through this time.
    std::optional<Clock::time_point> committed_time;
  };

  Worker(WorkerConfig config, metrics::Registry* registry, const attest::Clock& clock,
         StorePool::Opener store, token::KeySet keys,
         std::shared_ptr<const RevocationSigner> signer);
  Result<void> StartHttp();
  CommitTarget Target() const;

  // Verifies `pending_` as one batch and hands it to the commit executor
  // (pipelined: batch N+1 is loaded and verified while batch N writes and
  // commits; serial with one batch session). A fenced partition is dropped
  // and the rest retried. Error: database trouble (the evidence is back in
  // pending_ for a retry).
  Result<void> ProcessBatch();
  // Builds, loads and verifies a batch on session `session_index`
  // (transaction left open). On error the messages are put back at the end
  // of pending_.
  Result<std::unique_ptr<Batch>> PrepareBatch(std::vector<kafka::Message> msgs,
                                              size_t session_index);
  // Waits for the batch in flight; on success its post-commit work (offsets,
  // caches, relay), on failure its evidence goes back to the front of
  // pending_ (a fenced partition is dropped). Error: the batch failed.
  Result<void> AwaitInflight();
  void CompleteBatch(Batch& b);
  // Logs and counts each record of a committed batch; its outbox rows with
  // their ids go to `publish`.
  void CountRecords(Batch& b, std::vector<StoredOutbox>& publish);
  Result<void> Sweep();
  // The owned partitions the sweep may look at, each with the time through
  // which it has been read (SweepPartition): now (nullopt) once the
  // committed position reached the log end, else the committed_time. A
  // partition behind its log end whose committed_time is unknown (just
  // claimed) is left out until its first batch commits.
  std::vector<SweepPartition> SweepPartitions() const;
  // Graceful stop: the pending and in-flight batches, retried for
  // config_.batch_drain_timeout (the relay then drains for
  // config_.outbox_drain_timeout).
  void Drain();
  // Claims one assigned partition and publishes its outbox leftovers
  // (retried until `deadline`).
  Result<void> ClaimAssigned(kafka::TopicPartition& tp, attest::Clock::MonotonicTime deadline);
  void DropPartition(int32_t partition, const char* why);
  void PublishOwnedSet();
  // Refreshes the log end offsets of the owned partitions from the
  // consumer's cached watermarks (no broker round trip) and the lag gauges.
  void UpdateLag();
  void SetLagGauges(int32_t partition, const OwnedPartition& o);

  const WorkerConfig config_;
  const attest::Clock& clock_;
  metrics::Registry* registry_;
  const token::KeySet keys_;
  const std::shared_ptr<const RevocationSigner> signer_;
  Context ctx_;
  std::unique_ptr<WorkerMetrics> m_;

  StorePool store_;  // min(pool_size - 1, 2) sessions (the relay has its own connection)
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<BatchPreparer> preparer_;
  std::unique_ptr<Batch> inflight_;
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<EvidenceConsumer> consumer_;
  std::unique_ptr<http::Server> http_;
  // Declared last, destroyed first: the commit in flight (which touches the
  // batch, the relay and the metrics) finishes before anything else goes.
  CommitExecutor commit_;

  std::map<int32_t, OwnedPartition> owned_;  // loop thread only
  mutable std::mutex owned_mu_;              // guards owned_snapshot_
  std::set<int32_t> owned_snapshot_;
  std::vector<kafka::Message> pending_;
  std::chrono::steady_clock::time_point batch_started_{};

  std::atomic<bool> stop_{false};
  std::atomic<attest::Clock::MonotonicTime> last_loop_{};  // Run()'s last turn
};

}  // namespace attest::worker
