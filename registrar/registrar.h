// attest-registrar as a library: the HTTPS service of docs/api.md
// (registration, activation, control-plane API, health and metrics), over
// PostgreSQL and stateless otherwise, so several replicas can share a
// database. Requests are parsed on the I/O threads only as far as routing;
// parsing, crypto (MakeCredential) and database work run on the db::Pool's
// workers, so the event loop never waits for PostgreSQL.
//
//   auto reg = Registrar::Create(config, 12);  // loads trust store, token, TLS files
//   (*reg)->Start();                        // binds; (*reg)->port()
//   (*reg)->Stop(std::chrono::seconds(10)); // drains in-flight requests
//
// Thread-safety: Start/Stop from one controlling thread (not from a handler).
#pragma once

#include <chrono>
#include <memory>

#include "common/base/result.h"
#include "registrar/config.h"

namespace attest::registrar {

class Registrar {
 public:
  // `evidence_partitions`: the evidence topic's partition count (main() reads
  // it from Kafka), for enrolments.partition = PartitionFor(uuid, count).
  static Result<std::unique_ptr<Registrar>> Create(RegistrarConfig config,
                                                   int32_t evidence_partitions);
  ~Registrar();
  Registrar(const Registrar&) = delete;
  Registrar& operator=(const Registrar&) = delete;

  Result<void> Start();
  uint16_t port() const;
  void Stop(std::chrono::milliseconds drain);

  struct Impl;

 private:
  explicit Registrar(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace attest::registrar
