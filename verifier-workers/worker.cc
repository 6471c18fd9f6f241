// The worker's set-up and its partitions: construction, the metrics
// listener, and the rebalance callbacks (claim on assignment, finish on
// revocation, drop on loss). The loop and the batch pipeline are in
// worker_loop.cc.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "common/base/listen_address.h"
#include "common/http/ops_routes.h"
#include "common/http/server.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/worker.h"

namespace attest::worker {

namespace {

class KafkaEvidenceConsumer final : public EvidenceConsumer {
 public:
  explicit KafkaEvidenceConsumer(std::unique_ptr<kafka::Consumer> c) : c_(std::move(c)) {}
  Result<std::vector<kafka::Message>> Poll(std::chrono::milliseconds timeout,
                                           size_t max_messages) override {
    return c_->Poll(timeout, max_messages);
  }
  std::optional<kafka::Consumer::Watermarks> CachedWatermarks(const std::string& topic,
                                                              int32_t partition) const override {
    return c_->CachedWatermarks(topic, partition);
  }
  Result<void> Close() override { return c_->Close(); }

 private:
  std::unique_ptr<kafka::Consumer> c_;
};

kafka::ConsumerConfig EvidenceConsumerConfig(const WorkerConfig& c) {
  kafka::ConsumerConfig cc;
  cc.bootstrap_servers = c.kafka_bootstrap;
  cc.group_id = c.group_id;
  cc.client_id = c.worker_id;
  cc.topics = {c.evidence_topic};
  cc.session_timeout = c.session_timeout;
  cc.heartbeat_interval = std::max(std::chrono::milliseconds(100), c.session_timeout / 4);
  cc.first_assignment_timeout = c.session_timeout + std::chrono::seconds(5);
  cc.extra = c.kafka_properties;
  return cc;
}

}  // namespace

Worker::Worker(WorkerConfig config, metrics::Registry* registry, const attest::Clock& clock,
               StorePool::Opener store, token::KeySet keys,
               std::shared_ptr<const RevocationSigner> signer)
    : config_(std::move(config)),
      clock_(clock),
      registry_(registry),
      keys_(std::move(keys)),
      signer_(std::move(signer)),
      m_(std::make_unique<WorkerMetrics>(*registry)),
      store_(std::move(store),
             static_cast<size_t>(std::clamp(config_.database_pool_size - 1, 1, 2))) {
  ctx_.keys = &keys_;
  ctx_.token_options = {.ttl = config_.token_ttl, .max_skew = config_.token_max_skew};
  ctx_.signer = signer_.get();
  ctx_.worker_id = config_.worker_id;
  ctx_.backend_id = config_.backend_id.empty() ? config_.group_id : config_.backend_id;
  ctx_.sign_verdicts = config_.sign_verdicts;
  ctx_.verdict_topic = config_.verdict_topic;
  ctx_.revocation_topic = config_.revocation_topic;
  ctx_.encoding = config_.encoding;
  ctx_.boot_time_tolerance = config_.boot_time_tolerance;
  ctx_.uefi_log_max_rounds = config_.uefi_log_max_rounds;
}

Worker::~Worker() {
  commit_.Wait();
  if (http_) http_->Stop(std::chrono::milliseconds(0));
  consumer_.reset();
  if (relay_) relay_->Stop(std::chrono::milliseconds(0));
  relay_.reset();
  producer_.reset();
}

Result<std::unique_ptr<Worker>> Worker::Create(WorkerConfig config, metrics::Registry* registry,
                                               const attest::Clock& clock) {
  WorkerIo io;
  io.store = [conninfo = config.database_conninfo] { return OpenPostgresSession(conninfo); };
  kafka::ProducerConfig pc;
  pc.bootstrap_servers = config.kafka_bootstrap;
  pc.client_id = config.worker_id + "-relay";
  pc.extra = config.kafka_properties;
  auto producer = kafka::Producer::Create(pc);
  if (!producer) return MakeError(errc::kafka, "producer: " + producer.error().message);
  io.producer = std::move(*producer);
  io.relay =
      std::make_unique<OutboxRelay>(io.producer.get(), config.database_conninfo, registry, clock);
  io.consumer =
      [cc = EvidenceConsumerConfig(config)](
          kafka::RebalanceListener* listener) -> Result<std::unique_ptr<EvidenceConsumer>> {
    auto consumer = kafka::Consumer::Create(cc, listener);
    if (!consumer) return MakeError(errc::kafka, "consumer: " + consumer.error().message);
    return std::unique_ptr<EvidenceConsumer>(new KafkaEvidenceConsumer(std::move(*consumer)));
  };
  return Create(std::move(config), registry, clock, std::move(io));
}

Result<std::unique_ptr<Worker>> Worker::Create(WorkerConfig config, metrics::Registry* registry,
                                               const attest::Clock& clock, WorkerIo io) {
  auto keys = token::KeySet::LoadFiles(config.token_key_files);
  if (!keys) return MakeError(errc::invalid_config, "token keys: " + keys.error().message);
  auto signer = RevocationSigner::Load(config.revocation_key_file, config.revocation_key_id);
  if (!signer) return signer.error();
  std::unique_ptr<Worker> w(new Worker(std::move(config), registry, clock, std::move(io.store),
                                       std::move(*keys), std::move(*signer)));
  const WorkerConfig& c = w->config_;
  w->producer_ = std::move(io.producer);
  w->relay_ = std::move(io.relay);
  w->pool_ = std::make_unique<ThreadPool>(c.verification_threads);
  w->preparer_ = std::make_unique<BatchPreparer>(&w->ctx_, w->pool_.get(), c.policy_cache_size);
  if (auto r = w->StartHttp(); !r) return r.error();

  // The database first: an assignment needs it to claim partitions.
  if (auto db = w->store_.Session(); !db) return db.error();
  auto consumer = io.consumer(w.get());
  if (!consumer) return consumer.error();
  w->consumer_ = std::move(*consumer);
  w->relay_->Start();
  return w;
}

// /metrics and /healthz on config_.metrics_address (none when empty).
Result<void> Worker::StartHttp() {
  if (config_.metrics_address.empty()) return Ok();
  auto listen = ParseListenAddress(config_.metrics_address);  // checked by the config parser
  if (!listen) return MakeError(errc::invalid_config, "metrics.listen: " + listen.error().message);
  http::ServerOptions so;
  so.name = "worker-metrics";
  so.tls = false;
  so.bind_address = listen->host;
  so.port = listen->port;
  so.io_threads = 1;
  so.metrics_prefix = "worker_http";
  http::Router router;
  http::OpsHandlers ops;
  ops.healthy = [this](http::RequestPtr, http::Responder res) {
    const int64_t age = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Monotonic() -
                                                                              last_loop_.load())
                            .count();
    const bool ok = store_.healthy() && age < 30'000;
    res.Send(http::Response::Json(ok ? 200 : 503,
                                  std::string("{\"status\":\"") + (ok ? "ok" : "unhealthy") +
                                      "\",\"loop_age_ms\":" + std::to_string(age) + "}"));
  };
  ops.metrics = registry_;
  ATTEST_RETURN_IF_ERROR(http::AddOpsRoutes(router, std::move(ops)));
  http_ = std::make_unique<http::Server>(so, std::move(router), registry_);
  if (auto r = http_->Start(); !r) {
    return MakeError(errc::invalid_config, "metrics listener: " + r.error().message);
  }
  return Ok();
}

uint16_t Worker::metrics_port() const { return http_ ? http_->port() : 0; }

std::set<int32_t> Worker::Owned() const {
  std::lock_guard lock(owned_mu_);
  return owned_snapshot_;
}

void Worker::PublishOwnedSet() {
  std::set<int32_t> s;
  for (const auto& [p, o] : owned_) s.insert(p);
  m_->owned->Set(static_cast<double>(s.size()));
  relay_->SetOwned(s);
  std::lock_guard lock(owned_mu_);
  owned_snapshot_ = std::move(s);
}

void Worker::DropPartition(int32_t partition, const char* why) {
  if (owned_.erase(partition) == 0) return;
  // Series are never removed: a partition that is not ours shows no lag here.
  m_->lag->With({std::to_string(partition)}).Set(0);
  spdlog::warn("worker: dropping partition {}: {}", partition, why);
  std::erase_if(pending_,
                [partition](const kafka::Message& m) { return m.partition == partition; });
  PublishOwnedSet();
}

Result<void> Worker::OnAssigned(std::vector<kafka::TopicPartition>& partitions) {
  // Claim each partition in PostgreSQL (retrying a short database outage),
  // start from the stored offset and publish what the previous owner left
  // in the outbox before anything new.
  // Claims use session 0, which the batch in flight may be committing on.
  (void)AwaitInflight();
  const auto deadline = clock_.Monotonic() + config_.session_timeout;
  for (auto& tp : partitions) {
    if (auto r = ClaimAssigned(tp, deadline); !r) {
      PublishOwnedSet();
      return r;
    }
  }
  PublishOwnedSet();
  return Ok();
}

Result<void> Worker::ClaimAssigned(kafka::TopicPartition& tp,
                                   attest::Clock::MonotonicTime deadline) {
  OffsetKey key{config_.group_id, tp.topic, tp.partition};
  auto claim_once = [&]() -> Result<void> {
    WORKER_LET(session, store_.Session());
    WORKER_LET(claim, session->ClaimPartition(key, config_.worker_id));
    std::vector<StoredOutbox> leftovers;
    int64_t after = 0;
    while (true) {
      WORKER_LET(rows, session->LoadOutbox(tp.partition, after, 1000));
      if (rows.empty()) break;
      after = rows.back().id;
      for (auto& r : rows) leftovers.push_back(std::move(r));
    }
    owned_[tp.partition] = OwnedPartition{claim, claim.next_offset, std::nullopt, std::nullopt};
    tp.offset = claim.next_offset;
    if (!leftovers.empty()) {
      spdlog::info("worker: partition {}: publishing {} outbox leftovers", tp.partition,
                   leftovers.size());
      relay_->Publish(std::move(leftovers));
    }
    spdlog::info("worker: claimed partition {} at offset {} (epoch {})", tp.partition,
                 claim.next_offset, claim.epoch);
    return Ok();
  };
  while (true) {
    Result<void> done = claim_once();
    if (done) return Ok();
    store_.Drop(0);
    if (clock_.Monotonic() > deadline) return done.error();
    spdlog::warn("worker: claim partition {}: {} (retrying)", tp.partition, done.error().message);
    clock_.SleepFor(std::chrono::milliseconds(200), {});
  }
}

void Worker::OnRevoked(const std::vector<kafka::TopicPartition>& partitions) {
  // Finish the pending work of these partitions while they are still ours;
  // if the commit fails, their evidence is dropped (the next owner starts
  // from the stored offset).
  (void)AwaitInflight();  // a failed one puts its evidence back into pending_
  bool has_pending = false;
  for (const auto& tp : partitions) {
    has_pending = has_pending || std::any_of(pending_.begin(), pending_.end(), [&](const auto& m) {
                    return m.partition == tp.partition;
                  });
  }
  if (has_pending) {
    auto r = ProcessBatch();
    if (r) r = AwaitInflight();
    if (!r) spdlog::warn("worker: finishing revoked partitions: {}", r.error().message);
  }
  for (const auto& tp : partitions) DropPartition(tp.partition, "revoked");
}

void Worker::OnLost(const std::vector<kafka::TopicPartition>& partitions) {
  // Another member may own them already: write nothing more for them (a
  // batch in flight is fenced by its conditional offset update if so).
  (void)AwaitInflight();
  for (const auto& tp : partitions) DropPartition(tp.partition, "lost");
}

}  // namespace attest::worker
