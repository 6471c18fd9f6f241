// Where the gateway publishes accepted evidence: one record per request,
// keyed by the agent's canonical UUID, value an encoded EvidenceEnvelope.
// An interface so the gateway's handlers are unit-tested with a fake
// (tests/gateway/handler_test.cc); KafkaEvidenceSink is the real one.
//
// Contract of Publish: on success `on_delivery` is called exactly once,
// later, with the outcome (kafka::errc::possibly_written when the record may
// be on the topic without an acknowledgement); on error it is never called
// (the sink cannot take the record now: queue full, producer gone).
//
// Thread-safety: every member may be called from any thread; `on_delivery`
// runs on a thread of the sink's (the producer's poll thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/base/result.h"
#include "common/kafka/producer.h"

namespace attest::gateway {

class EvidenceSink {
 public:
  virtual ~EvidenceSink() = default;
  virtual Result<void> Publish(std::string_view agent_uuid, std::string_view envelope,
                               kafka::DeliveryCallback on_delivery) = 0;
  // Blocks until every delivery callback ran or `timeout` passed.
  virtual Result<void> Flush(std::chrono::milliseconds timeout) = 0;
  // Records published whose delivery callback has not run yet.
  virtual int64_t InFlight() const = 0;
};

// The evidence topic through a Kafka producer, with the content-type header
// of an encoded Protobuf envelope.
class KafkaEvidenceSink final : public EvidenceSink {
 public:
  static Result<std::unique_ptr<KafkaEvidenceSink>> Create(const kafka::ProducerConfig& config,
                                                           std::string topic);
  Result<void> Publish(std::string_view agent_uuid, std::string_view envelope,
                       kafka::DeliveryCallback on_delivery) override;
  Result<void> Flush(std::chrono::milliseconds timeout) override;
  int64_t InFlight() const override;

 private:
  KafkaEvidenceSink(std::unique_ptr<kafka::Producer> producer, std::string topic)
      : producer_(std::move(producer)), topic_(std::move(topic)) {}
  std::unique_ptr<kafka::Producer> producer_;
  const std::string topic_;
};

}  // namespace attest::gateway
