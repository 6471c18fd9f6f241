#include "verifier-workers/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <unordered_map>

#include "common/base/escape.h"
#include "common/http/server.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/store.h"

// Declares `name` from a Result expression or returns its error.
#define WORKER_LET(name, expr)                      \
  auto name##_result = (expr);                      \
  if (!name##_result) return name##_result.error(); \
  auto name = std::move(name##_result).value()

namespace attest::worker {
namespace {

constexpr size_t kAkCacheSize = 200'000;
constexpr int kSweepLimit = 1000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::vector<double> SizeBuckets() { return {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}; }

}  // namespace

struct Worker::Metrics {
  metrics::Counter* evidence;
  metrics::CounterFamily* verdicts;
  std::map<v1::VerdictResult, metrics::Counter*> by_result;
  metrics::CounterFamily* skipped;
  metrics::Counter* fenced;
  metrics::Counter* processing_errors;
  metrics::Counter* db_errors;
  metrics::Histogram* batch_size;
  metrics::Histogram* verify_seconds;
  metrics::Histogram* commit_seconds;
  metrics::Gauge* owned;
  metrics::GaugeFamily* position;
  metrics::GaugeFamily* lag;
  metrics::GaugeFamily* log_end;

  explicit Metrics(metrics::Registry& r) {
    evidence = &r.AddCounter("worker_evidence_total", "Evidence records processed.").With({});
    verdicts = &r.AddCounter("worker_verdicts_total", "Verdicts committed, by result.", {"result"});
    for (auto res : {v1::VERDICT_RESULT_PASS, v1::VERDICT_RESULT_FAIL, v1::VERDICT_RESULT_OFFLINE,
                     v1::VERDICT_RESULT_RESUMED, v1::VERDICT_RESULT_REJECTED,
                     v1::VERDICT_RESULT_LOG_REQUESTED}) {
      by_result[res] = &verdicts->With({v1::VerdictResult_Name(res)});
    }
    skipped = &r.AddCounter("worker_evidence_skipped_total",
                            "Evidence records skipped without a verdict.", {"reason"});
    fenced =
        &r.AddCounter("worker_fenced_total", "Transactions rolled back because a partition moved.")
             .With({});
    db_errors = &r.AddCounter("worker_db_errors_total", "Failed database transactions.").With({});
    processing_errors = &r.AddCounter("worker_processing_errors_total",
                                      "Records whose processing threw (REJECTED, logged).")
                             .With({});
    batch_size =
        &r.AddHistogram("worker_batch_size", "Evidence records per batch.", {}, SizeBuckets())
             .With({});
    verify_seconds =
        &r.AddHistogram("worker_verification_seconds", "Verification time per evidence.", {})
             .With({});
    commit_seconds =
        &r.AddHistogram("worker_batch_commit_seconds", "Batch transaction time.", {}).With({});
    owned = &r.AddGauge("worker_partitions_owned", "Evidence partitions owned.").With({});
    position = &r.AddGauge("worker_partition_next_offset",
                           "Committed next offset per owned partition (lag = end offset - this).",
                           {"partition"});
    lag = &r.AddGauge("attest_worker_consumer_lag",
                      "Records of an owned partition not committed yet (log end offset - "
                      "committed next offset; 0 once the partition is no longer owned).",
                      {"partition"});
    log_end = &r.AddGauge("attest_worker_log_end_offset",
                          "High watermark of an owned partition as last fetched.", {"partition"});
  }
};

Worker::Worker(WorkerConfig config, metrics::Registry* registry, token::KeySet keys,
               std::shared_ptr<const RevocationSigner> signer)
    : config_(std::move(config)),
      registry_(registry),
      keys_(std::move(keys)),
      signer_(std::move(signer)),
      m_(std::make_unique<Metrics>(*registry)),
      conns_(static_cast<size_t>(std::clamp(config_.database_pool_size - 1, 1, 2))),
      aks_(kAkCacheSize),
      policies_(config_.policy_cache_size) {
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
  if (commit_thread_.joinable()) commit_thread_.join();
  if (http_) http_->Stop(std::chrono::milliseconds(0));
  consumer_.reset();
  if (relay_) relay_->Stop(std::chrono::milliseconds(0));
  relay_.reset();
  producer_.reset();
}

Result<std::unique_ptr<Worker>> Worker::Create(WorkerConfig config, metrics::Registry* registry) {
  auto keys = token::KeySet::LoadFiles(config.token_key_files);
  if (!keys) return MakeError(errc::invalid_config, "token keys: " + keys.error().message);
  auto signer = RevocationSigner::Load(config.revocation_key_file, config.revocation_key_id);
  if (!signer) return signer.error();
  std::unique_ptr<Worker> w(
      new Worker(std::move(config), registry, std::move(*keys), std::move(*signer)));
  const WorkerConfig& c = w->config_;

  kafka::ProducerConfig pc;
  pc.bootstrap_servers = c.kafka_bootstrap;
  pc.client_id = c.worker_id + "-relay";
  pc.extra = c.kafka_properties;
  auto producer = kafka::Producer::Create(pc);
  if (!producer) return MakeError(errc::kafka, "producer: " + producer.error().message);
  w->producer_ = std::move(*producer);
  w->relay_ = std::make_unique<OutboxRelay>(w->producer_.get(), c.database_conninfo, registry);
  w->pool_ = std::make_unique<ThreadPool>(c.verification_threads);

  if (!c.metrics_address.empty()) {
    const size_t colon = c.metrics_address.rfind(':');
    http::ServerOptions so;
    so.name = "worker-metrics";
    so.tls = false;
    so.bind_address = c.metrics_address.substr(0, colon);
    so.port = static_cast<uint16_t>(std::stoi(c.metrics_address.substr(colon + 1)));
    so.io_threads = 1;
    so.metrics_prefix = "worker_http";
    http::Router router;
    Worker* self = w.get();
    (void)router.Add("GET", "/metrics", [registry](http::RequestPtr, http::Responder res) {
      res.Send(http::Response::Binary(200, std::string(metrics::Registry::kContentType),
                                      registry->Render()));
    });
    (void)router.Add("GET", "/healthz", [self](http::RequestPtr, http::Responder res) {
      const int64_t age = NowMs() - self->last_loop_ms_.load();
      const bool ok = self->db_ok_.load() && age < 30'000;
      res.Send(http::Response::Json(ok ? 200 : 503,
                                    std::string("{\"status\":\"") + (ok ? "ok" : "unhealthy") +
                                        "\",\"loop_age_ms\":" + std::to_string(age) + "}"));
    });
    w->http_ = std::make_unique<http::Server>(so, std::move(router), registry);
    if (auto r = w->http_->Start(); !r) {
      return MakeError(errc::invalid_config, "metrics listener: " + r.error().message);
    }
  }

  // PostgreSQL first: an assignment needs it to claim partitions.
  if (auto db = w->Db(); !db) return db.error();

  kafka::ConsumerConfig cc;
  cc.bootstrap_servers = c.kafka_bootstrap;
  cc.group_id = c.group_id;
  cc.client_id = c.worker_id;
  cc.topics = {c.evidence_topic};
  cc.session_timeout = c.session_timeout;
  cc.heartbeat_interval = std::max(std::chrono::milliseconds(100), c.session_timeout / 4);
  cc.first_assignment_timeout = c.session_timeout + std::chrono::seconds(5);
  cc.extra = c.kafka_properties;
  auto consumer = kafka::Consumer::Create(cc, w.get());
  if (!consumer) return MakeError(errc::kafka, "consumer: " + consumer.error().message);
  w->consumer_ = std::move(*consumer);
  w->relay_->Start();
  return w;
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

Result<db::Connection*> Worker::Db(size_t i) {
  if (i >= conns_.size())
    return MakeError(errc::database, "no batch connection " + std::to_string(i));
  auto& conn = conns_[i];
  if (conn && conn->is_open()) return &*conn;
  conn.reset();
  auto c = db::Connection::Open(config_.database_conninfo);
  if (!c) {
    db_ok_ = false;
    return MakeError(errc::database, c.error().message);
  }
  auto prepared = db::Guard("prepare statements", [&] {
    PrepareOffsetStatements(c->raw());
    PrepareStoreStatements(c->raw());
  });
  if (!prepared) {
    db_ok_ = false;
    return MakeError(errc::database, prepared.error().message);
  }
  conn.emplace(std::move(*c));
  db_ok_ = true;
  return &*conn;
}

void Worker::DropConnection(size_t i) {
  if (i < conns_.size()) conns_[i].reset();
  db_ok_ = false;
}

void Worker::DropConnections() {
  for (size_t i = 0; i < conns_.size(); ++i) DropConnection(i);
}

void Worker::UpdateLag() {
  for (auto& [p, o] : owned_) {
    if (auto wm = consumer_->CachedWatermarks(config_.evidence_topic, p)) {
      o.log_end = std::max(wm->high, o.claim.next_offset);
    }
    SetLagGauges(p, o);
  }
}

void Worker::SetLagGauges(int32_t partition, const OwnedPartition& o) {
  if (!o.log_end) return;
  const std::string label = std::to_string(partition);
  m_->log_end->With({label}).Set(static_cast<double>(*o.log_end));
  m_->lag->With({label}).Set(
      static_cast<double>(std::max<int64_t>(0, *o.log_end - o.claim.next_offset)));
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
  // Claims use connection 0, which the batch in flight may be committing on.
  (void)AwaitInflight();
  const auto deadline = std::chrono::steady_clock::now() + config_.session_timeout;
  for (auto& tp : partitions) {
    OffsetKey key{config_.group_id, tp.topic, tp.partition};
    while (true) {
      Result<void> done = [&]() -> Result<void> {
        WORKER_LET(conn, Db());
        WORKER_LET(claim, ClaimPartition(conn->raw(), key, config_.worker_id));
        std::vector<StoredOutbox> leftovers;
        int64_t after = 0;
        while (true) {
          auto rows = db::Guard("outbox leftovers", [&] {
            pqxx::read_transaction tx(conn->raw());
            auto r = LoadOutbox(tx, tp.partition, after, 1000);
            if (!r) throw std::runtime_error(r.error().message);
            return std::move(*r);
          });
          if (!rows) return MakeError(errc::database, rows.error().message);
          if (rows->empty()) break;
          after = rows->back().id;
          for (auto& r : *rows) leftovers.push_back(std::move(r));
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
      }();
      if (done) break;
      DropConnection(0);
      if (std::chrono::steady_clock::now() > deadline) {
        PublishOwnedSet();
        return done.error();
      }
      spdlog::warn("worker: claim partition {}: {} (retrying)", tp.partition, done.error().message);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  PublishOwnedSet();
  return Ok();
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

std::shared_ptr<const CachedPolicy> Worker::Policy(int64_t id) {
  if (id == 0) return nullptr;
  auto* p = policies_.Get(id);
  return p ? *p : nullptr;
}

// One batch between its load and its post-commit work.
struct Worker::Batch {
  std::vector<kafka::Message> msgs;
  size_t conn_index = 0;
  std::unique_ptr<pqxx::work> tx;  // open until CommitBatch commits or the batch is dropped
  std::chrono::steady_clock::time_point t0;
  std::map<std::string, AgentRow> rows;
  std::vector<Outcome> outcomes;
  // One byte per record, not vector<bool>: verification threads set them
  // concurrently, and packed bits would lose updates (a verdict lost).
  std::vector<uint8_t> has_outcome;
  std::vector<int> skip_reason;  // 1: bad key
  std::map<int32_t, int64_t> next_offsets;
  // Per partition: the Kafka timestamp of the batch's last record, if it has one.
  std::map<int32_t, std::optional<Clock::time_point>> last_time;
  std::map<int32_t, Claim> expected;  // per partition: the claim this batch advances from
  std::map<int32_t, std::optional<int64_t>> log_end;
  std::vector<std::pair<std::string, std::shared_ptr<const verifier::AttestationKey>>> new_aks;
  // Set by CommitBatch.
  std::vector<int64_t> outbox_ids;
  std::optional<int32_t> fenced_partition;
  std::optional<Error> error;
  bool committed = false;
  std::atomic<bool> done{false};  // CommitBatch finished (the loop may join)
};

Result<std::unique_ptr<Worker::Batch>> Worker::PrepareBatch(std::vector<kafka::Message> msgs,
                                                            size_t conn_index) {
  auto b = std::make_unique<Batch>();
  b->msgs = std::move(msgs);
  b->conn_index = conn_index;
  b->t0 = std::chrono::steady_clock::now();
  auto give_back = [&](Error e) -> Error {
    b->tx.reset();
    for (auto& m : b->msgs) pending_.push_back(std::move(m));
    return e;
  };
  auto conn = Db(conn_index);
  if (!conn) return give_back(conn.error());
  const Clock::time_point now = Clock::now();
  const auto& pending = b->msgs;

  // Group by agent, keeping each agent's evidence in partition order, and
  // look each agent up once in the AK cache (nothing is put into it before
  // the batch completes, so the entries found stay valid).
  struct AgentWork {
    std::vector<size_t> records;
    const AkCacheEntry* cached = nullptr;
    std::shared_ptr<const verifier::AttestationKey> ak;  // the cached key, if still registered
  };
  std::vector<std::string> agent_ids;
  std::vector<uint8_t> have_ak;  // per agent_ids: its parsed AK is cached
  std::unordered_map<std::string, AgentWork> by_agent;
  b->skip_reason.assign(pending.size(), 0);
  for (size_t i = 0; i < pending.size(); ++i) {
    if (!IsUuid(pending[i].key)) {
      b->skip_reason[i] = 1;
      continue;
    }
    std::string id = LowerUuid(pending[i].key);
    auto [it, fresh] = by_agent.try_emplace(id);
    if (fresh) {
      it->second.cached = aks_.Get(id);
      have_ak.push_back(it->second.cached != nullptr);
      agent_ids.push_back(std::move(id));
    }
    it->second.records.push_back(i);
  }
  b->outcomes.resize(pending.size());
  b->has_outcome.assign(pending.size(), 0);
  // A timestamp past now (nonsense, and past 2262 an overflow of the
  // clock's nanoseconds) counts as now.
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  for (const auto& m : pending) {
    b->next_offsets[m.partition] = m.offset + 1;
    b->last_time[m.partition] = m.timestamp_ms < 0
                                    ? std::nullopt
                                    : std::optional(Clock::time_point(std::chrono::milliseconds(
                                          std::min<int64_t>(m.timestamp_ms, now_ms))));
  }
  for (const auto& [p, next] : b->next_offsets) {
    const OwnedPartition& o = owned_[p];
    b->expected[p] = Claim{o.dispatched_next, o.claim.epoch};
    b->log_end[p] = o.log_end;
  }

  auto loaded = db::Guard("batch load", [&]() -> Result<void> {
    b->tx = std::make_unique<pqxx::work>((*conn)->raw());
    // The public areas of AKs held parsed (by name) are not fetched.
    // FOR UPDATE: an agent of the batch still committing is read after it.
    ATTEST_ASSIGN_OR_RETURN(b->rows, LoadAgents(*b->tx, agent_ids, have_ak, true));
    // A cached AK whose name changed (the agent registered again): fetch it.
    std::vector<AgentRow*> rotated;
    for (auto& [id, row] : b->rows) {
      AgentWork& w = by_agent.find(id)->second;
      if (w.cached != nullptr && w.cached->first == row.ak_name) {
        w.ak = w.cached->second;
      } else if (row.ak_public.empty()) {
        rotated.push_back(&row);
      }
    }
    if (auto r = LoadAkPublics(*b->tx, rotated); !r) return r.error();
    // Policy versions not cached yet (versions are immutable: cache by id).
    std::vector<int64_t> missing;
    for (const auto& [id, row] : b->rows) {
      for (int64_t pid : {row.pcr_policy_id, row.runtime_policy_id, row.mb_policy_id}) {
        if (pid != 0 && !policies_.Get(pid) &&
            std::find(missing.begin(), missing.end(), pid) == missing.end()) {
          missing.push_back(pid);
        }
      }
    }
    if (!missing.empty()) {
      WORKER_LET(prows, LoadPolicies(*b->tx, missing));
      for (const auto& p : prows) {
        auto compiled = CompilePolicy(p.id, p.version, p.kind, p.body);
        if (!compiled->error.empty()) {
          spdlog::error("worker: policy {} ({} v{}): {}", p.id, p.kind, p.version, compiled->error);
        }
        policies_.Put(p.id, std::move(compiled));
      }
    }
    return Ok();
  });
  Result<void> ok = loaded ? *loaded : Result<void>(loaded.error());
  if (!ok) {
    m_->db_errors->Inc();
    DropConnection(conn_index);
    return give_back(MakeError(errc::database, ok.error().message));
  }

  // Verification jobs: one per agent.
  std::vector<std::function<void()>> jobs;
  std::mutex aks_mu;
  for (auto& [id, row] : b->rows) {
    const AgentWork& w = by_agent.find(id)->second;
    const auto& idx = w.records;
    AgentPolicyRefs pol{Policy(row.pcr_policy_id), Policy(row.runtime_policy_id),
                        Policy(row.mb_policy_id)};
    std::shared_ptr<const verifier::AttestationKey> ak = w.ak;
    AgentRow* r = &row;
    Batch* bp = b.get();
    jobs.push_back([this, bp, r, &idx, pol, ak, now, &aks_mu] {
      auto key = ak;
      if (!key) {
        auto parsed = verifier::AttestationKey::FromTpm2bPublic(tpm::ByteView(
            reinterpret_cast<const uint8_t*>(r->ak_public.data()), r->ak_public.size()));
        if (parsed) {
          key = *parsed;
          std::lock_guard lock(aks_mu);
          bp->new_aks.emplace_back(r->agent_id, key);
        }
      }
      for (size_t i : idx) {
        const kafka::Message& m = bp->msgs[i];
        // Total: a hostile record gives a REJECTED verdict, never an exception.
        bp->outcomes[i] =
            ProcessRecord(ctx_, m.value, EvidenceRef{m.partition, m.offset}, *r, key, pol, now);
        bp->has_outcome[i] = bp->outcomes[i].result != v1::VERDICT_RESULT_UNSPECIFIED;
      }
    });
  }
  pool_->RunAll(jobs);
  return b;
}

void Worker::CommitBatch(Batch& b) {
  auto r = db::Guard("batch commit", [&]() -> Result<void> {
    std::vector<const AgentRow*> dirty;
    for (const auto& [id, row] : b.rows) {
      if (row.dirty) dirty.push_back(&row);
    }
    std::vector<const HistoryRecord*> history;
    std::vector<const OutboxRecord*> outbox;
    for (size_t i = 0; i < b.outcomes.size(); ++i) {
      if (!b.has_outcome[i]) continue;
      history.push_back(&b.outcomes[i].history);
      for (const auto& o : b.outcomes[i].outbox) outbox.push_back(&o);
    }
    ATTEST_ASSIGN_OR_RETURN(b.outbox_ids,
                            WriteResults(*b.tx, dirty, history, outbox, config_.worker_id));
    relay_->Reserve(b.outbox_ids);
    for (const auto& [p, next] : b.next_offsets) {
      OffsetKey key{config_.group_id, config_.evidence_topic, p};
      auto adv = AdvanceOffset(*b.tx, key, b.expected[p], next, config_.worker_id, b.log_end[p]);
      if (!adv) {
        if (adv.error().code == make_error_code(errc::fenced)) b.fenced_partition = p;
        return adv.error();
      }
    }
    b.tx->commit();
    return Ok();
  });
  Result<void> done = r ? *r : Result<void>(r.error());
  if (done) {
    b.committed = true;
  } else {
    relay_->Release(b.outbox_ids);
    b.error = done.error();
  }
  b.tx.reset();  // aborts when not committed
  b.done.store(true);
}

Result<void> Worker::AwaitInflight() {
  if (!inflight_) return Ok();
  if (commit_thread_.joinable()) commit_thread_.join();
  std::unique_ptr<Batch> b = std::move(inflight_);
  if (b->committed) {
    CompleteBatch(*b);
    return Ok();
  }
  // Not committed: its evidence goes first again, offsets back to the committed ones.
  pending_.insert(pending_.begin(), std::make_move_iterator(b->msgs.begin()),
                  std::make_move_iterator(b->msgs.end()));
  for (auto& [p, o] : owned_) o.dispatched_next = o.claim.next_offset;
  if (b->fenced_partition) {
    m_->fenced->Inc();
    spdlog::warn("worker: {}", b->error ? b->error->message : "fenced");
    DropPartition(*b->fenced_partition, "fenced");
    return MakeError(errc::fenced, "batch fenced");
  }
  m_->db_errors->Inc();
  DropConnection(b->conn_index);
  return MakeError(errc::database, b->error ? b->error->message : "batch failed");
}

void Worker::CompleteBatch(Batch& b) {
  for (auto& [id, key] : b.new_aks) {
    auto it = b.rows.find(id);
    if (it != b.rows.end()) aks_.Put(id, {it->second.ak_name, key});
  }
  for (const auto& [p, next] : b.next_offsets) {
    auto it = owned_.find(p);
    if (it == owned_.end()) continue;  // revoked meanwhile (its commit was fenced-safe)
    OwnedPartition& o = it->second;
    o.claim.next_offset = next;
    o.dispatched_next = std::max(o.dispatched_next, next);
    // A last record without a timestamp keeps the earlier time: an
    // earlier seen-through time only delays OFFLINE verdicts.
    if (const auto& t = b.last_time[p]) o.committed_time = *t;
    if (o.log_end) o.log_end = std::max(*o.log_end, next);
    m_->position->With({std::to_string(p)}).Set(static_cast<double>(next));
    SetLagGauges(p, o);
  }
  std::vector<StoredOutbox> publish;
  publish.reserve(b.outbox_ids.size());
  size_t k = 0;
  for (size_t i = 0; i < b.outcomes.size(); ++i) {
    if (!b.outcomes[i].error.empty()) {
      const kafka::Message& m = b.msgs[i];
      spdlog::error("worker: evidence {}[{}]@{} of agent {} could not be processed: {}", m.topic,
                    m.partition, m.offset, TerminalSafe(m.key.substr(0, 64)),
                    TerminalSafe(b.outcomes[i].error));
      m_->processing_errors->Inc();
    }
    if (!b.has_outcome[i]) {
      const kafka::Message& m = b.msgs[i];
      const char* reason = b.skip_reason[i] == 1            ? "bad_key"
                           : b.outcomes[i].copy             ? "copy"
                           : b.rows.count(LowerUuid(m.key)) ? "no_verdict"
                                                            : "not_enrolled";
      spdlog::warn("worker: skipped evidence {}[{}]@{} (key '{}'): {}", m.topic, m.partition,
                   m.offset, TerminalSafe(m.key.substr(0, 64)), reason);
      m_->skipped->With({reason}).Inc();
      continue;
    }
    m_->by_result[b.outcomes[i].result]->Inc();
    m_->verify_seconds->Observe(static_cast<double>(b.outcomes[i].verify_micros) / 1e6);
    for (auto& o : b.outcomes[i].outbox) {
      if (k < b.outbox_ids.size()) publish.push_back(StoredOutbox{b.outbox_ids[k++], std::move(o)});
    }
  }
  m_->evidence->Inc(b.msgs.size());
  m_->batch_size->Observe(static_cast<double>(b.msgs.size()));
  m_->commit_seconds->Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - b.t0).count());
  relay_->Publish(std::move(publish));
}

Result<void> Worker::ProcessBatch() {
  const bool pipelined = conns_.size() >= 2;
  while (!pending_.empty()) {
    if (!pipelined) {
      if (auto r = AwaitInflight(); !r && r.error().code != make_error_code(errc::fenced)) {
        return r;
      }
    }
    // Only owned partitions, only offsets past what is committed or in flight.
    std::erase_if(pending_, [this](const kafka::Message& m) {
      auto it = owned_.find(m.partition);
      return it == owned_.end() || m.offset < it->second.dispatched_next;
    });
    if (pending_.empty()) return Ok();
    const size_t conn_index = pipelined && inflight_ ? 1 - inflight_->conn_index : 0;
    std::vector<kafka::Message> msgs;
    msgs.swap(pending_);
    auto prepared = PrepareBatch(std::move(msgs), conn_index);
    // The previous batch first: this one may only write after it committed.
    auto prev = AwaitInflight();
    if (!prepared) return prepared.error();
    if (!prev) {
      (*prepared)->tx.reset();  // rolled back; retried after the previous one
      for (auto& m : (*prepared)->msgs) pending_.push_back(std::move(m));
      if (prev.error().code == make_error_code(errc::fenced)) continue;
      return prev.error();
    }
    // Dispatch: offsets move on optimistically (reset if the commit fails).
    for (const auto& [p, next] : (*prepared)->next_offsets) owned_[p].dispatched_next = next;
    inflight_ = std::move(*prepared);
    commit_thread_ = std::thread([this, b = inflight_.get()] { CommitBatch(*b); });
    return Ok();
  }
  return Ok();
}

std::vector<SweepPartition> Worker::SweepPartitions() const {
  std::vector<SweepPartition> out;
  for (const auto& [p, o] : owned_) {
    if (o.log_end && o.claim.next_offset >= *o.log_end) {
      out.push_back({p, std::nullopt});
    } else if (o.committed_time) {
      out.push_back({p, o.committed_time});
    }
  }
  return out;
}

Result<void> Worker::Sweep() {
  // Committed first: the positions below are then everything read so far.
  if (auto r = AwaitInflight(); !r) return r;
  while (!owned_.empty()) {
    const std::vector<SweepPartition> parts = SweepPartitions();
    if (parts.empty()) return Ok();
    WORKER_LET(conn, Db());
    const Clock::time_point now = Clock::now();
    std::optional<int32_t> fenced_partition;
    std::vector<Outcome> outcomes;
    std::vector<int64_t> ids;
    auto r = db::Guard("liveness sweep", [&]() -> Result<void> {
      pqxx::work tx(conn->raw());
      WORKER_LET(overdue, LockOverdueAgents(tx, parts, kSweepLimit));
      if (overdue.empty()) return Ok();
      WORKER_LET(rows, LoadAgents(tx, overdue, {}, false));
      // Fenced like a batch: still the owner of each partition touched?
      std::set<int32_t> touched;
      for (const auto& [id, row] : rows) touched.insert(row.partition);
      for (int32_t p : touched) {
        auto own =
            CheckOwner(tx, {config_.group_id, config_.evidence_topic, p}, owned_[p].claim.epoch);
        if (!own) {
          if (own.error().code == make_error_code(errc::fenced)) fenced_partition = p;
          tx.abort();
          return own.error();
        }
      }
      std::vector<const AgentRow*> dirty;
      for (auto& [id, row] : rows) {
        outcomes.push_back(MakeOffline(ctx_, row, now));
        dirty.push_back(&row);
      }
      std::vector<const HistoryRecord*> history;
      std::vector<const OutboxRecord*> outbox;
      for (const auto& o : outcomes) {
        history.push_back(&o.history);
        for (const auto& rec : o.outbox) outbox.push_back(&rec);
      }
      ATTEST_ASSIGN_OR_RETURN(ids, WriteResults(tx, dirty, history, outbox, config_.worker_id));
      relay_->Reserve(ids);
      tx.commit();
      return Ok();
    });
    Result<void> done = r ? *r : Result<void>(r.error());
    if (!done) {
      relay_->Release(ids);
      if (fenced_partition) {
        m_->fenced->Inc();
        DropPartition(*fenced_partition, "fenced (sweep)");
        continue;
      }
      m_->db_errors->Inc();
      DropConnection(0);
      return done.error();
    }
    std::vector<StoredOutbox> publish;
    size_t k = 0;
    for (auto& o : outcomes) {
      m_->by_result[o.result]->Inc();
      for (auto& rec : o.outbox) publish.push_back(StoredOutbox{ids[k++], std::move(rec)});
    }
    if (!outcomes.empty()) spdlog::info("worker: {} agents went OFFLINE", outcomes.size());
    relay_->Publish(std::move(publish));
    return Ok();
  }
  return Ok();
}

Result<void> Worker::Run() {
  auto next_sweep = std::chrono::steady_clock::now() + config_.sweep_period;
  auto backoff_until = std::chrono::steady_clock::time_point{};
  const size_t max_pending = config_.batch_max_count * 4;
  while (!stop_.load()) {
    last_loop_ms_ = NowMs();
    const auto now = std::chrono::steady_clock::now();
    if (now < backoff_until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    // The batch in flight committed: publish its verdicts now.
    if (inflight_ && inflight_->done.load()) {
      if (auto r = AwaitInflight(); !r) {
        spdlog::warn("worker: batch: {} (retrying)", r.error().message);
        if (r.error().code != make_error_code(errc::fenced)) {
          backoff_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
          continue;
        }
      }
    }
    // Poll while there is room; the batch closes on count or time.
    if (pending_.size() < max_pending) {
      auto wait = std::chrono::milliseconds(inflight_ ? 2 : 100);
      if (!pending_.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            batch_started_ + config_.batch_max_time - now);
        wait = std::max(std::chrono::milliseconds(0), std::min(wait, left));
      }
      auto msgs = consumer_->Poll(
          wait, config_.batch_max_count - std::min(config_.batch_max_count - 1, pending_.size()));
      if (!msgs) return MakeError(errc::kafka, msgs.error().message);
      for (auto& m : *msgs) {
        if (!owned_.count(m.partition)) continue;  // revoked meanwhile
        if (pending_.empty()) batch_started_ = std::chrono::steady_clock::now();
        pending_.push_back(std::move(m));
      }
      UpdateLag();  // before the batch: its commit records the log end offset
    }
    const bool full = pending_.size() >= config_.batch_max_count;
    const bool due = !pending_.empty() &&
                     std::chrono::steady_clock::now() >= batch_started_ + config_.batch_max_time;
    if (full || due) {
      if (auto r = ProcessBatch(); !r) {
        spdlog::warn("worker: batch: {} (retrying)", r.error().message);
        backoff_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
        continue;
      }
    }
    if (std::chrono::steady_clock::now() >= next_sweep) {
      next_sweep = std::chrono::steady_clock::now() + config_.sweep_period;
      if (auto r = Sweep(); !r) spdlog::warn("worker: sweep: {}", r.error().message);
    }
  }

  // Graceful stop: finish the batch, publish, leave the group.
  spdlog::info("worker: stopping");
  for (int attempt = 0; attempt < 20 && (!pending_.empty() || inflight_); ++attempt) {
    auto r = ProcessBatch();
    if (r) r = AwaitInflight();
    if (r && pending_.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  relay_->Stop(std::chrono::seconds(10));
  if (auto r = consumer_->Close(); !r) spdlog::warn("worker: close: {}", r.error().message);
  return Ok();
}

}  // namespace attest::worker
