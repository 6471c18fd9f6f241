// Readiness probes: a background thread checks every `interval` that Kafka
// answers a metadata request for the evidence topic (with at least one
// partition) and that PostgreSQL answers `SELECT 1`, each on its own
// connection, and keeps the results. /readyz and the evidence route read
// them without blocking an I/O thread.
//
// Thread-safety: the getters may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/base/clock.h"
#include "common/base/result.h"

namespace attest::gateway {

// What the gateway's routes read of its dependencies' health: an interface
// so the handlers are unit-tested with a fake; Probes is the real one.
// Thread-safety: any thread, never blocking.
class Readiness {
 public:
  virtual ~Readiness() = default;
  virtual bool kafka_ok() const = 0;
  virtual bool database_ok() const = 0;
  // The reasons of the last failures ("" when fine).
  virtual std::string Status() const = 0;
};

struct ProbeOptions {
  std::string kafka_bootstrap;
  std::map<std::string, std::string> kafka_properties;
  std::string topic;
  std::string database_conninfo;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{1000};
};

class Probes final : public Readiness {
 public:
  // Runs the first round before returning (so Ready() is meaningful at once);
  // the next rounds every options.interval of `clock` (which must outlive
  // the probes).
  static Result<std::unique_ptr<Probes>> Start(ProbeOptions options, const Clock& clock);
  ~Probes() override;
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  bool kafka_ok() const override { return kafka_ok_.load(); }
  bool database_ok() const override { return database_ok_.load(); }
  std::string Status() const override;

 private:
  struct Impl;
  Probes(std::unique_ptr<Impl> impl, const Clock& clock);
  void Loop(std::stop_token stop);
  void Round();

  std::unique_ptr<Impl> impl_;
  const Clock& clock_;
  std::atomic<bool> kafka_ok_{false};
  std::atomic<bool> database_ok_{false};
  mutable std::mutex mu_;  // guards the two errors
  std::string kafka_error_;
  std::string database_error_;
  std::jthread thread_;  // last: stopped and joined first
};

}  // namespace attest::gateway
