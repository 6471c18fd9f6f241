// attest-gateway: the ingest gateway (see ingest-gateway/gateway.h).
// Exit codes: 0 stopped by SIGTERM/SIGINT after draining, 1 start-up or
// runtime failure (also: the evidence topic is missing or does not match what
// the gateway needs, or Kafka did not answer within kafka.startup_timeout_ms),
// 2 bad command line or configuration.
#include <spdlog/spdlog.h>

#include "common/base/clock.h"
#include "common/kafka/topics.h"
#include "common/service/main_shell.h"
#include "common/service/topic_check.h"
#include "ingest-gateway/config.h"
#include "ingest-gateway/gateway.h"

namespace {

using attest::gateway::GatewayConfig;
namespace service = attest::service;

constexpr char kProgram[] = "attest-gateway";

// The evidence topic must exist and be able to hold what the gateway writes
// (docs/kafka.md): otherwise every evidence would be answered 503 later.
attest::Result<void> CheckEvidenceTopic(const attest::gateway::GatewayConfig& c) {
  auto check =
      service::StartupCheckFor("gateway", "attest-gateway-" + c.gateway_id,
                               {c.kafka_bootstrap, c.kafka_properties, c.kafka_startup_timeout});
  check.needs = [&c](int32_t brokers) {
    attest::kafka::PipelineTopicOptions o;
    o.evidence = c.kafka_topic;
    o.evidence_partitions = 1;  // any count: records are keyed, the registrar reads the count
    o.evidence_message_max_bytes = static_cast<int64_t>(c.kafka_message_max_bytes);
    return std::vector<attest::kafka::TopicRequirement>{
        attest::kafka::PipelineTopic(attest::kafka::TopicRole::kEvidence, o, brokers).need};
  };
  auto view = attest::kafka::CheckTopicsAtStart(check);
  if (!view) return view.error();
  return attest::Ok();
}

int Run(GatewayConfig config) {
  if (auto r = CheckEvidenceTopic(config); !r) {
    spdlog::critical("gateway: refusing to start: {}", r.error().message);
    return service::kExitFailure;
  }
  service::StopSignals signals;     // before the gateway's threads: they inherit the mask
  const attest::SystemClock clock;  // outlives the gateway
  auto gateway = attest::gateway::Gateway::Create(std::move(config), clock);
  if (!gateway) return service::Fail(kProgram, gateway.error().message, service::kExitFailure);
  if (auto r = (*gateway)->Start(); !r) {
    return service::Fail(kProgram, r.error().message, service::kExitFailure);
  }
  const int sig = signals.Wait();
  spdlog::info("gateway: signal {}: draining", sig);
  (*gateway)->Stop();
  spdlog::info("gateway: stopped");
  return service::kExitStopped;
}

}  // namespace

int main(int argc, char** argv) {
  service::MainSpec<GatewayConfig> spec;
  spec.program = kProgram;
  spec.description = "attest-gateway: ingest gateway (challenges, evidence to Kafka)";
  spec.default_config = "/etc/attest/gateway.toml";
  spec.config_help = "gateway configuration (TOML)";
  spec.load = attest::gateway::LoadGatewayConfig;
  spec.logging = [](const GatewayConfig& c) { return c.log; };
  spec.run = Run;
  return service::RunMain(spec, argc, argv);
}
