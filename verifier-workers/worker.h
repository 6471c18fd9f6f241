// The verifier worker: one member of the consumer group over
// attestation.evidence. See docs/worker.md for the design; in short:
//  - partitions are claimed in PostgreSQL on assignment (consumer_offsets,
//    owner_epoch) and consumption starts at the stored next_offset;
//  - evidence is batched (count / time), verified on a thread pool (agents
//    in parallel, one agent's evidence in order) and each batch is ONE
//    transaction: state, history, outbox, conditional offset updates;
//  - after commit the outbox relay publishes verdicts / revocations;
//  - every sweep period the agents of the owned partitions past their
//    liveness deadline go OFFLINE (fenced like a batch);
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
    Claim claim;  // next_offset = the committed position; epoch = our claim
  };
  struct Metrics;

  Worker(WorkerConfig config, metrics::Registry* registry, token::KeySet keys,
         std::shared_ptr<const RevocationSigner> signer);

  Result<db::Connection*> Db();
  void DropConnection();
  // Processes and commits `pending_`; fenced partitions are dropped and the
  // rest retried. Error: database trouble (pending_ is kept for a retry).
  Result<void> ProcessBatch();
  Result<void> Sweep();
  void DropPartition(int32_t partition, const char* why);
  void PublishOwnedSet();
  std::shared_ptr<const CachedPolicy> Policy(int64_t id);

  const WorkerConfig config_;
  metrics::Registry* registry_;
  const token::KeySet keys_;
  const std::shared_ptr<const RevocationSigner> signer_;
  Context ctx_;
  std::unique_ptr<Metrics> m_;

  std::optional<db::Connection> conn_;
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

  Lru<std::string, std::pair<std::string, std::shared_ptr<const verifier::AttestationKey>>> aks_;
  Lru<int64_t, std::shared_ptr<const CachedPolicy>> policies_;

  std::atomic<bool> stop_{false};
  std::atomic<int64_t> last_loop_ms_{0};
  std::atomic<bool> db_ok_{false};
};

}  // namespace attest::worker
