#include "verifier-workers/relay.h"

#include <spdlog/spdlog.h>

#include "common/db/connection.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/revocation.h"
#include "verifier-workers/store.h"

namespace attest::worker {

Result<std::vector<kafka::Header>> ToKafkaRecord(OutboxRecord& record) {
  std::vector<kafka::Header> headers;
  if (record.content_type == kSignedVerdictContentType) {
    v1::SignedVerdict sv;
    if (!sv.ParseFromString(record.payload)) {
      return MakeError(errc::bad_input, "signed verdict row does not parse");
    }
    record.payload = std::move(*sv.mutable_verdict());
    record.content_type = sv.content_type();
    headers.push_back({std::string(kHeaderSignature), Base64Encode(sv.signature())});
    headers.push_back({std::string(kHeaderSignatureAlgorithm), sv.signature_algorithm()});
    headers.push_back({std::string(kHeaderKeyId), sv.key_id()});
  }
  if (!record.content_type.empty()) {
    headers.insert(headers.begin(), {"content-type", record.content_type});
  }
  return headers;
}

namespace {

constexpr auto kDeleteTick = std::chrono::milliseconds(50);
constexpr size_t kDeleteBatch = 500;
constexpr auto kReconnectBackoff = std::chrono::milliseconds(200);
constexpr auto kRescanAfterFailure = std::chrono::seconds(2);
constexpr auto kRescanPeriod = std::chrono::seconds(30);

class KafkaOutboxSink final : public OutboxSink {
 public:
  explicit KafkaOutboxSink(kafka::Producer* producer) : producer_(producer) {}
  Result<void> Produce(std::string_view topic, std::string_view key, std::string_view value,
                       const std::vector<kafka::Header>& headers,
                       kafka::DeliveryCallback on_delivery) override {
    return producer_->Produce(topic, key, value, headers, std::move(on_delivery));
  }

 private:
  kafka::Producer* producer_;
};

class PgOutboxStore final : public OutboxStore {
 public:
  explicit PgOutboxStore(db::Connection conn) : conn_(std::move(conn)) {}
  bool is_open() const override { return conn_.is_open(); }
  Result<std::vector<StoredOutbox>> LoadOutbox(int32_t partition, int64_t after_id,
                                               int limit) override {
    return db::Guard("outbox rescan", [&] {
      pqxx::read_transaction tx(conn_.raw());
      auto rows = worker::LoadOutbox(tx, partition, after_id, limit);
      if (!rows) throw std::runtime_error(rows.error().message);
      return std::move(rows).value();
    });
  }
  Result<void> DeleteOutbox(const std::vector<int64_t>& ids) override {
    return conn_.Transact("delete outbox", [&](pqxx::work& tx) {
      auto d = worker::DeleteOutbox(tx, ids);
      if (!d) throw std::runtime_error(d.error().message);
    });
  }

 private:
  db::Connection conn_;
};

}  // namespace

OutboxRelay::OutboxRelay(kafka::Producer* producer, std::string conninfo,
                         metrics::Registry* registry, const attest::Clock& clock)
    : OutboxRelay(
          std::make_unique<KafkaOutboxSink>(producer),
          [conninfo = std::move(conninfo)]() -> Result<std::unique_ptr<OutboxStore>> {
            auto c = db::Connection::Open(conninfo);
            if (!c) return c.error();
            PrepareStoreStatements(c->raw());
            return std::unique_ptr<OutboxStore>(new PgOutboxStore(std::move(c).value()));
          },
          registry, clock) {}

OutboxRelay::OutboxRelay(std::unique_ptr<OutboxSink> sink, OutboxStoreOpener open_store,
                         metrics::Registry* registry, const attest::Clock& clock)
    : sink_(std::move(sink)), open_store_(std::move(open_store)), clock_(clock) {
  if (registry) {
    auto& pub = registry->AddCounter("worker_outbox_published_total",
                                     "Outbox rows acknowledged by Kafka.", {"outcome"});
    published_ = &pub.With({"ok"});
    failed_ = &pub.With({"failed"});
    depth_ = &registry
                  ->AddGauge("worker_outbox_depth",
                             "Outbox rows of the owned partitions not yet deleted.")
                  .With({});
  }
}

OutboxRelay::~OutboxRelay() { Stop(std::chrono::milliseconds(0)); }

void OutboxRelay::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  stopping_ = std::stop_source();
  thread_ = std::thread([this] { Loop(); });
}

void OutboxRelay::Stop(std::chrono::milliseconds drain) {
  const auto deadline = clock_.Monotonic() + drain;
  {
    std::unique_lock lock(mu_);
    if (!thread_.joinable()) return;
    // Wait for deliveries (the producer's callbacks) and the deletes.
    WaitUntil(lock, deadline, [this] { return inflight_.size() <= reserved_.size(); });
    stop_ = true;
    stopping_.request_stop();
    Wake();
  }
  thread_.join();
}

template <typename Done>
void OutboxRelay::WaitUntil(std::unique_lock<std::mutex>& lock,
                            attest::Clock::MonotonicTime deadline, Done done) {
  while (!done() && clock_.Monotonic() < deadline) {
    std::stop_token woken = wake_.get_token();
    lock.unlock();
    clock_.SleepUntil(deadline, woken);
    lock.lock();
  }
}

void OutboxRelay::Wake() {
  wake_.request_stop();
  wake_ = std::stop_source();
}

void OutboxRelay::Reserve(const std::vector<int64_t>& ids) {
  std::lock_guard lock(mu_);
  for (int64_t id : ids) {
    inflight_.insert(id);
    reserved_.insert(id);
  }
}

void OutboxRelay::Release(const std::vector<int64_t>& ids) {
  std::lock_guard lock(mu_);
  for (int64_t id : ids) {
    inflight_.erase(id);
    reserved_.erase(id);
  }
}

void OutboxRelay::SetOwned(std::set<int32_t> partitions) {
  std::lock_guard lock(mu_);
  owned_ = std::move(partitions);
}

size_t OutboxRelay::InFlight() const {
  std::lock_guard lock(mu_);
  return inflight_.size();
}

size_t OutboxRelay::Depth() const {
  std::lock_guard lock(mu_);
  return inflight_.size() + failed_waiting_;
}

void OutboxRelay::Publish(std::vector<StoredOutbox> rows) {
  for (auto& row : rows) {
    {
      std::lock_guard lock(mu_);
      if (reserved_.erase(row.id) == 0 && !inflight_.insert(row.id).second) continue;
    }
    const int64_t id = row.id;
    auto headers = ToKafkaRecord(row.record);
    if (!headers) {
      // Only a tampered or corrupt row: it can never be published as a
      // verified verdict, so it is dropped (deleted) loudly.
      spdlog::error("outbox relay: row {} dropped: {}", id, headers.error().ToString());
      if (failed_) failed_->Inc();
      {
        std::lock_guard lock(mu_);
        to_delete_.push_back(id);
        Wake();
      }
      continue;
    }
    auto r =
        sink_->Produce(row.record.topic, row.record.key, row.record.payload, *headers,
                       [this, id](const Result<kafka::Delivery>& d) { Delivered(id, d.ok()); });
    if (!r) {
      // Queue full or producer failure: the rescan publishes it later.
      spdlog::warn("outbox relay: produce row {}: {}", id, r.error().ToString());
      Delivered(id, false);
    }
  }
}

void OutboxRelay::Delivered(int64_t id, bool ok) {
  {
    std::lock_guard lock(mu_);
    if (ok) {
      to_delete_.push_back(id);
    } else if (inflight_.erase(id) > 0) {
      ++failed_waiting_;
      failures_ = true;
    }
    Wake();
  }
  if (ok && published_) published_->Inc();
  if (!ok && failed_) failed_->Inc();
}

void OutboxRelay::Rescan(OutboxStore& store) {
  std::set<int32_t> owned;
  {
    std::lock_guard lock(mu_);
    owned = owned_;
  }
  std::vector<StoredOutbox> todo;
  size_t failed_before = 0;
  {
    std::lock_guard lock(mu_);
    failed_before = failed_waiting_;
  }
  for (int32_t p : owned) {
    auto rows = store.LoadOutbox(p, 0, 1000);
    if (!rows) {
      spdlog::warn("outbox relay: {}", rows.error().message);
      return;
    }
    std::lock_guard lock(mu_);
    for (auto& r : *rows) {
      if (!inflight_.count(r.id)) todo.push_back(std::move(r));
    }
  }
  {
    // What failed before the scan is in `todo` now (or was deleted).
    std::lock_guard lock(mu_);
    failed_waiting_ -= std::min(failed_waiting_, failed_before);
  }
  if (!todo.empty()) {
    spdlog::info("outbox relay: republishing {} rows", todo.size());
    Publish(std::move(todo));
  }
}

void OutboxRelay::Loop() {
  std::unique_ptr<OutboxStore> store;
  auto last_scan = clock_.Monotonic();
  while (true) {
    std::vector<int64_t> batch;
    bool rescan = false;
    std::stop_token stopping;
    {
      std::unique_lock lock(mu_);
      WaitUntil(lock, clock_.Monotonic() + kDeleteTick,
                [this] { return stop_ || to_delete_.size() >= kDeleteBatch; });
      batch.swap(to_delete_);
      const auto now = clock_.Monotonic();
      rescan =
          (failures_ && now - last_scan > kRescanAfterFailure) || now - last_scan > kRescanPeriod;
      if (stop_ && batch.empty()) break;
      stopping = stopping_.get_token();
    }
    if (!store || !store->is_open()) {
      auto opened = open_store_();
      if (!opened) {
        spdlog::warn("outbox relay: {}", opened.error().message);
        {
          std::lock_guard lock(mu_);
          to_delete_.insert(to_delete_.end(), batch.begin(), batch.end());
          if (stop_) break;
        }
        clock_.SleepFor(kReconnectBackoff, stopping);
        continue;
      }
      store = std::move(opened).value();
    }
    if (!batch.empty()) {
      auto r = store->DeleteOutbox(batch);
      std::lock_guard lock(mu_);
      if (r) {
        for (int64_t id : batch) inflight_.erase(id);
        deleted_ += batch.size();
      } else {
        spdlog::warn("outbox relay: {}", r.error().message);
        to_delete_.insert(to_delete_.end(), batch.begin(), batch.end());
        store.reset();
      }
      Wake();
    }
    const auto now = clock_.Monotonic();
    if (rescan && store) {
      {
        std::lock_guard lock(mu_);
        failures_ = false;
      }
      last_scan = now;
      Rescan(*store);
    }
    if (depth_) depth_->Set(static_cast<double>(Depth()));
  }
}

}  // namespace attest::worker
