// attest-gateway: the ingest gateway (see ingest-gateway/gateway.h).
// Exit codes: 0 stopped by SIGTERM/SIGINT after draining, 1 start-up or
// runtime failure (also: the evidence topic is missing or does not match what
// the gateway needs, or Kafka did not answer within kafka.startup_timeout_ms),
// 2 bad command line or configuration.
#include <pthread.h>
#include <signal.h>

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "common/base/logging.h"
#include "common/kafka/topics.h"
#include "ingest-gateway/config.h"
#include "ingest-gateway/gateway.h"

namespace {

// libprotobuf writes an ERROR line to stderr for every request body with a
// malformed UTF-8 string; clients control that, so it goes to debug (the
// request itself is answered 400 and counted).
void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                 const std::string& message) {
  if (level >= google::protobuf::LOGLEVEL_FATAL) {
    spdlog::critical("protobuf {}:{}: {}", file, line, message);
  } else {
    spdlog::debug("protobuf {}:{}: {}", file, line, message);
  }
}

// The evidence topic must exist and be able to hold what the gateway writes
// (docs/kafka.md): otherwise every evidence would be answered 503 later.
attest::Result<void> CheckEvidenceTopic(const attest::gateway::GatewayConfig& c) {
  attest::kafka::StartupCheck check;
  check.service = "gateway";
  check.admin.bootstrap_servers = c.kafka_bootstrap;
  check.admin.client_id = "attest-gateway-" + c.gateway_id;
  check.admin.extra = c.kafka_properties;
  check.timeout = c.kafka_startup_timeout;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"attest-gateway: ingest gateway (challenges, evidence to Kafka)"};
  std::string config_path = "/etc/attest/gateway.toml";
  app.add_option("--config", config_path, "gateway configuration (TOML)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  auto config = attest::gateway::LoadGatewayConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "attest-gateway: %s\n", config.error().message.c_str());
    return 2;
  }
  if (auto r = attest::InitLogging(config->log); !r) {
    std::fprintf(stderr, "attest-gateway: %s\n", r.error().message.c_str());
    return 2;
  }

  google::protobuf::SetLogHandler(&ProtobufLog);

  if (auto r = CheckEvidenceTopic(*config); !r) {
    spdlog::critical("gateway: refusing to start: {}", r.error().message);
    return 1;
  }

  // Block the stop signals in every thread (threads inherit the mask); this
  // thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const attest::SystemClock clock;  // outlives the gateway
  auto gateway = attest::gateway::Gateway::Create(std::move(config).value(), clock);
  if (!gateway) {
    std::fprintf(stderr, "attest-gateway: %s\n", gateway.error().message.c_str());
    return 1;
  }
  if (auto r = (*gateway)->Start(); !r) {
    std::fprintf(stderr, "attest-gateway: %s\n", r.error().message.c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("gateway: signal {}: draining", sig);
  (*gateway)->Stop();
  spdlog::info("gateway: stopped");
  return 0;
}
