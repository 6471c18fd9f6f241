#include "ingest-gateway/evidence_sink.h"

#include <vector>

#include "ingest-gateway/decode.h"

namespace attest::gateway {

Result<std::unique_ptr<KafkaEvidenceSink>> KafkaEvidenceSink::Create(
    const kafka::ProducerConfig& config, std::string topic) {
  auto producer = kafka::Producer::Create(config);
  if (!producer) return producer.error();
  return std::unique_ptr<KafkaEvidenceSink>(
      new KafkaEvidenceSink(std::move(producer).value(), std::move(topic)));
}

Result<void> KafkaEvidenceSink::Publish(std::string_view agent_uuid, std::string_view envelope,
                                        kafka::DeliveryCallback on_delivery) {
  static const std::vector<kafka::Header> kHeaders = {{"content-type", std::string(kProtobufType)}};
  return producer_->Produce(topic_, agent_uuid, envelope, kHeaders, std::move(on_delivery));
}

Result<void> KafkaEvidenceSink::Flush(std::chrono::milliseconds timeout) {
  return producer_->Flush(timeout);
}

int64_t KafkaEvidenceSink::InFlight() const { return producer_->InFlight(); }

}  // namespace attest::gateway
