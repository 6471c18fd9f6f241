// The ingest gateway service: HTTPS routes for challenges and evidence, the
// Kafka producer, the enrolment lookups and the readiness probes.
//
//   SystemClock clock;                      // in main(); outlives the gateway
//   auto gw = Gateway::Create(config, clock);  // loads keys, creates the producer
//   (*gw)->Start();                         // listens; (*gw)->port()
//   ...
//   (*gw)->Stop();                          // drain, flush the producer
//
// Routes (docs/api.md, docs/gateway.md):
//   POST /v1/agents/{uuid}/challenges  200 Challenge | 400 | 404 | 415 | 429 | 503
//   POST /v1/agents/{uuid}/evidence    202 EvidenceAccepted, only from Kafka's
//                                      delivery report | 400 | 401 | 403 | 413 |
//                                      415 | 503
//   GET /healthz, /readyz, /metrics
//
// Time is read from the Clock given (challenge and receipt times, produce
// latency); Kafka, the enrolments and the probes are behind interfaces
// (GatewayIo), so the handlers are unit-tested with fakes.
//
// Thread-safety: Start/Stop from one controlling thread (not from a handler).
// Handlers run on I/O threads, lookups on the database pool, delivery reports
// on the producer's poll thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "common/base/clock.h"
#include "common/base/result.h"
#include "common/http/server.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics.h"
#include "common/token/token.h"
#include "ingest-gateway/config.h"
#include "ingest-gateway/enrolments.h"
#include "ingest-gateway/evidence_sink.h"
#include "ingest-gateway/probes.h"

namespace attest::gateway {

// The evidence producer's configuration (librdkafka properties included)
// for `config`: what Gateway::Create uses.
kafka::ProducerConfig EvidenceProducerConfig(const GatewayConfig& config);

// What the gateway talks to. All three are required.
struct GatewayIo {
  std::unique_ptr<EvidenceSink> sink;           // the evidence topic
  std::unique_ptr<EnrolmentLookup> enrolments;  // challenge decisions
  std::unique_ptr<Readiness> readiness;         // /readyz; evidence needs kafka_ok()
};

class Gateway {
 public:
  // `clock` must outlive the gateway; so must `registry`, which may be null
  // (the gateway then owns one). Creates the Kafka producer, the probes and
  // the enrolment pool of `config`.
  static Result<std::unique_ptr<Gateway>> Create(GatewayConfig config, const Clock& clock,
                                                 metrics::Registry* registry = nullptr);
  // The same with the I/O given (tests: fakes; no Kafka, no database).
  static Result<std::unique_ptr<Gateway>> Create(GatewayConfig config, const Clock& clock,
                                                 GatewayIo io,
                                                 metrics::Registry* registry = nullptr);
  ~Gateway();  // Stop() if running
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  Result<void> Start();
  uint16_t port() const;
  // Stops accepting, waits up to config.drain_timeout for in-flight requests
  // (evidence waits for its delivery report), then flushes the producer.
  void Stop();

  bool Ready() const;
  const GatewayConfig& config() const { return config_; }
  metrics::Registry& registry() { return *registry_; }
  // The routes above (the server's; tests call a handler without a server).
  http::Router MakeRouter();

 private:
  Gateway(GatewayConfig config, const Clock& clock, metrics::Registry* registry,
          token::KeySet keys);
  static Result<std::unique_ptr<Gateway>> Assemble(GatewayConfig config, const Clock& clock,
                                                   token::KeySet keys, GatewayIo io,
                                                   metrics::Registry* registry);
  void OnChallenge(http::RequestPtr req, http::Responder res);
  void OnEvidence(http::RequestPtr req, http::Responder res);
  void OnReadyz(http::Responder res);
  http::Response Unavailable(std::string_view detail) const;
  // One evidence record on its way to Kafka (gateway.cc).
  struct PendingEvidence;
  void ProduceEvidence(std::shared_ptr<PendingEvidence> p);

  const GatewayConfig config_;
  const Clock& clock_;
  metrics::Registry own_registry_;
  metrics::Registry* registry_;
  const token::KeySet keys_;
  metrics::Histogram* produce_latency_ = nullptr;
  metrics::Gauge* queue_depth_ = nullptr;
  metrics::CounterFamily* evidence_outcomes_ = nullptr;
  metrics::Counter* accepted_ = nullptr;
  metrics::Counter* delivery_failed_ = nullptr;
  metrics::Counter* delivery_unknown_ = nullptr;

  // Destroyed in reverse: the server first (no more handlers), then the
  // enrolments and the sink (no more callbacks), then the probes.
  std::unique_ptr<Readiness> probes_;
  std::unique_ptr<EvidenceSink> sink_;
  std::unique_ptr<EnrolmentLookup> store_;
  std::unique_ptr<http::Server> server_;
  bool stopped_ = false;
};

}  // namespace attest::gateway
