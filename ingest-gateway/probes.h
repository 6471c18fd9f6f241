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
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "common/base/result.h"

namespace attest::gateway {

struct ProbeOptions {
  std::string kafka_bootstrap;
  std::map<std::string, std::string> kafka_properties;
  std::string topic;
  std::string database_conninfo;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{1000};
};

class Probes {
 public:
  // Runs the first round before returning (so Ready() is meaningful at once).
  static Result<std::unique_ptr<Probes>> Start(ProbeOptions options);
  ~Probes();
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  bool kafka_ok() const { return kafka_ok_.load(); }
  bool database_ok() const { return database_ok_.load(); }
  // The reasons of the last failures ("" when fine).
  std::string Status() const;

 private:
  struct Impl;
  explicit Probes(std::unique_ptr<Impl> impl);
  void Loop();
  void Round();

  std::unique_ptr<Impl> impl_;
  std::atomic<bool> kafka_ok_{false};
  std::atomic<bool> database_ok_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::string kafka_error_;
  std::string database_error_;
  std::thread thread_;
};

}  // namespace attest::gateway
