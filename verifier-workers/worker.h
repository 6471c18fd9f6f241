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
// Thread-safety: Run() on one thread; RequestStop() and the accessors from
// any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/base/result.h"
#include "common/db/connection.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "common/token/token.h"
#include "verifier-workers/config.h"
#include "verifier-workers/lru.h"
#include "verifier-workers/offsets.h"
#include "verifier-workers/pool.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/relay.h"
#include "verifier-workers/store.h"

namespace attest::http {
class Server;
}

namespace attest::worker {

class Worker : public kafka::RebalanceListener {
 public:
  // Loads keys, connects to PostgreSQL and Kafka, starts the HTTP listener
  // (when configured). `registry` must outlive the worker.
  static Result<std::unique_ptr<Worker>> Create(WorkerConfig config, metrics::Registry* registry);
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
  struct Metrics;
  struct Batch;

  Worker(WorkerConfig config, metrics::Registry* registry, token::KeySet keys,
         std::shared_ptr<const RevocationSigner> signer);

  // Batch connection `i` (0 also serves claims and sweeps), opened and
  // prepared on first use.
  Result<db::Connection*> Db(size_t i = 0);
  void DropConnection(size_t i = 0);
  void DropConnections();
  // Verifies `pending_` as one batch and hands its transaction to the commit
  // thread (pipelined: batch N+1 is loaded and verified while batch N writes
  // and commits; serial with one batch connection). A fenced partition is
  // dropped and the rest retried. Error: database trouble (the evidence is
  // back in pending_ for a retry).
  Result<void> ProcessBatch();
  // Load + verify on connection `conn_index` (transaction left open). On
  // error the messages are put back at the end of pending_.
  Result<std::unique_ptr<Batch>> PrepareBatch(std::vector<kafka::Message> msgs, size_t conn_index);
  // Write + offsets + COMMIT (commit thread; touches only the batch, the
  // relay and metrics).
  void CommitBatch(Batch& b);
  // Waits for the batch in flight; on success its post-commit work (offsets,
  // caches, relay), on failure its evidence goes back to the front of
  // pending_ (a fenced partition is dropped). Error: the batch failed.
  Result<void> AwaitInflight();
  void CompleteBatch(Batch& b);
  Result<void> Sweep();
  // The owned partitions the sweep may look at, each with the time through
  // which it has been read (SweepPartition): now (nullopt) once the
  // committed position reached the log end, else the committed_time. A
  // partition behind its log end whose committed_time is unknown (just
  // claimed) is left out until its first batch commits.
  std::vector<SweepPartition> SweepPartitions() const;
  void DropPartition(int32_t partition, const char* why);
  void PublishOwnedSet();
  // Refreshes the log end offsets of the owned partitions from the
  // consumer's cached watermarks (no broker round trip) and the lag gauges.
  void UpdateLag();
  void SetLagGauges(int32_t partition, const OwnedPartition& o);
  std::shared_ptr<const CachedPolicy> Policy(int64_t id);

  const WorkerConfig config_;
  metrics::Registry* registry_;
  const token::KeySet keys_;
  const std::shared_ptr<const RevocationSigner> signer_;
  Context ctx_;
  std::unique_ptr<Metrics> m_;

  std::vector<std::optional<db::Connection>> conns_;  // pool_size - 1 (relay has one)
  std::unique_ptr<Batch> inflight_;
  std::thread commit_thread_;  // runs CommitBatch(*inflight_); joined by AwaitInflight
  std::unique_ptr<kafka::Producer> producer_;
  std::unique_ptr<OutboxRelay> relay_;
  std::unique_ptr<kafka::Consumer> consumer_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<http::Server> http_;

  std::map<int32_t, OwnedPartition> owned_;  // loop thread only
  mutable std::mutex owned_mu_;              // guards owned_snapshot_
  std::set<int32_t> owned_snapshot_;
  std::vector<kafka::Message> pending_;
  std::chrono::steady_clock::time_point batch_started_{};

  // agent id -> (AK name, parsed key); loop thread only. The registrar writes
  // an AK's name with its public area, so an unchanged name is an unchanged key.
  using AkCacheEntry = std::pair<std::string, std::shared_ptr<const verifier::AttestationKey>>;
  Lru<std::string, AkCacheEntry> aks_;
  Lru<int64_t, std::shared_ptr<const CachedPolicy>> policies_;

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> last_loop_ms_{0};
  std::atomic<bool> db_ok_{false};
};

}  // namespace attest::worker
