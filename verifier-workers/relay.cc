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

OutboxRelay::OutboxRelay(kafka::Producer* producer, std::string conninfo,
                         metrics::Registry* registry)
    : producer_(producer), conninfo_(std::move(conninfo)) {
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
  thread_ = std::thread([this] { Loop(); });
}

void OutboxRelay::Stop(std::chrono::milliseconds drain) {
  const auto deadline = std::chrono::steady_clock::now() + drain;
  {
    std::unique_lock lock(mu_);
    if (!thread_.joinable()) return;
    // Wait for deliveries (the producer's callbacks) and the deletes.
    while (std::chrono::steady_clock::now() < deadline && inflight_.size() > reserved_.size()) {
      cv_.wait_for(lock, std::chrono::milliseconds(20));
    }
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
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
      }
      cv_.notify_all();
      continue;
    }
    auto r =
        producer_->Produce(row.record.topic, row.record.key, row.record.payload, *headers,
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
  }
  if (ok && published_) published_->Inc();
  if (!ok && failed_) failed_->Inc();
  cv_.notify_all();
}

void OutboxRelay::Rescan(db::Connection& conn) {
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
  auto scanned = db::Guard("outbox rescan", [&] {
    for (int32_t p : owned) {
      pqxx::read_transaction tx(conn.raw());
      auto rows = LoadOutbox(tx, p, 0, 1000);
      if (!rows) throw std::runtime_error(rows.error().message);
      std::lock_guard lock(mu_);
      for (auto& r : *rows) {
        if (!inflight_.count(r.id)) todo.push_back(std::move(r));
      }
    }
  });
  if (!scanned) {
    spdlog::warn("outbox relay: {}", scanned.error().message);
    return;
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
  std::optional<db::Connection> conn;
  auto last_scan = std::chrono::steady_clock::now();
  while (true) {
    std::vector<int64_t> batch;
    bool rescan = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(50),
                   [this] { return stop_ || to_delete_.size() >= 500; });
      batch.swap(to_delete_);
      const auto now = std::chrono::steady_clock::now();
      rescan = (failures_ && now - last_scan > std::chrono::seconds(2)) ||
               now - last_scan > std::chrono::seconds(30);
      if (stop_ && batch.empty()) break;
    }
    if (!conn || !conn->is_open()) {
      auto c = db::Connection::Open(conninfo_);
      if (!c) {
        spdlog::warn("outbox relay: {}", c.error().message);
        {
          std::lock_guard lock(mu_);
          to_delete_.insert(to_delete_.end(), batch.begin(), batch.end());
          if (stop_) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      conn.emplace(std::move(*c));
      PrepareStoreStatements(conn->raw());
    }
    if (!batch.empty()) {
      auto r = conn->Transact("delete outbox", [&](pqxx::work& tx) {
        auto d = DeleteOutbox(tx, batch);
        if (!d) throw std::runtime_error(d.error().message);
      });
      std::lock_guard lock(mu_);
      if (r) {
        for (int64_t id : batch) inflight_.erase(id);
        deleted_ += batch.size();
      } else {
        spdlog::warn("outbox relay: {}", r.error().message);
        to_delete_.insert(to_delete_.end(), batch.begin(), batch.end());
        conn.reset();
      }
    }
    cv_.notify_all();
    const auto now = std::chrono::steady_clock::now();
    if (rescan && conn) {
      {
        std::lock_guard lock(mu_);
        failures_ = false;
      }
      last_scan = now;
      Rescan(*conn);
    }
    if (depth_) depth_->Set(static_cast<double>(Depth()));
  }
}

}  // namespace attest::worker
